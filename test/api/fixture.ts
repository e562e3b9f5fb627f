// Configuration fixture of the Auth0-compatible API tests.
export const OTP = 'http://auth0.com/oauth/grant-type/passwordless/otp';
export const SESAME_OTP = 'urn:sesame:params:oauth:grant-type:passwordless-otp';
export const CALLBACK = 'http://127.0.0.1:9/cb';
export const WEB_ORIGIN = 'http://127.0.0.1:9';

export const apiFixture = {
  clients: [
    {
      client_id: 'native',
      client_secret: 'native-secret-native-secret-native',
      client_name: 'Native App',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token', OTP, SESAME_OTP],
      first_party: true,
      trust_forwarded_for: true,
    },
    {
      client_id: 'spa',
      client_name: 'Browser App',
      token_endpoint_auth_method: 'none',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', OTP],
      web_origins: [WEB_ORIGIN],
      first_party: true,
    },
    {
      client_id: 'backend',
      client_secret: 'backend-secret-backend-secret-xx',
      redirect_uris: [CALLBACK],
      grant_types: ['client_credentials'],
    },
  ],
  apis: [{ identifier: 'https://api.example', scopes: ['read', 'write'] }],
};
