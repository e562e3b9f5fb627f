// Configuration fixture of the OIDC flow tests: one first-party confidential client, one
// third-party client (consent), one public client, and one API.
export const REDIRECT = 'http://127.0.0.1:9/cb';
export const LOGGED_OUT = 'http://127.0.0.1:9/bye';

export const oidcFixture = {
  clients: [
    {
      client_id: 'app',
      client_secret: 'app-secret-app-secret-app-secret',
      client_name: 'Test App',
      redirect_uris: [REDIRECT],
      post_logout_redirect_uris: [LOGGED_OUT],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      first_party: true,
    },
    {
      client_id: 'partner',
      client_secret: 'partner-secret-partner-secret-xx',
      client_name: 'Partner',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
    },
    { client_id: 'spa', client_name: 'SPA', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], token_endpoint_auth_method: 'none' },
  ],
  apis: [{ identifier: 'https://api.example', scopes: ['read', 'write'] }],
};
