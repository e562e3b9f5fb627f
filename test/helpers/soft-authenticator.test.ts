// The software authenticator against the verifier Sesame uses (@simplewebauthn/server): what it makes
// must verify, and each attack its knobs set up must be refused by the verifier itself.
import { describe, expect, it } from 'vitest';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  type WebAuthnCredential,
} from '@simplewebauthn/server';
import { SoftAuthenticator, toSpaJsShape } from './soft-authenticator.js';

const rpID = 'localhost';
const origin = 'http://localhost:3000';
const ZERO_AAGUID = '00000000-0000-0000-0000-000000000000';

async function registrationOptions(userName: string) {
  return generateRegistrationOptions({
    rpName: 'Sesame',
    rpID,
    userName,
    attestationType: 'none',
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
  });
}

function verifyRegistration(response: RegistrationResponseJSON, expectedChallenge: string) {
  return verifyRegistrationResponse({ response, expectedChallenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: true });
}

/** Registers `userName` on `authenticator` and returns what a server would store. */
async function enrol(authenticator: SoftAuthenticator, userName = 'alice') {
  const options = await registrationOptions(userName);
  const response = authenticator.register(options);
  const verification = await verifyRegistration(response, options.challenge);
  if (!verification.verified) throw new Error('registration did not verify');
  return { userId: options.user.id, response, verification, credential: verification.registrationInfo.credential };
}

function signInOptions(userVerification: 'required' | 'preferred' = 'required', allow: WebAuthnCredential[] = []) {
  return generateAuthenticationOptions({ rpID, userVerification, allowCredentials: allow.map(({ id }) => ({ id })) });
}

function verifyAssertion(response: AuthenticationResponseJSON, options: PublicKeyCredentialRequestOptionsJSON, credential: WebAuthnCredential) {
  return verifyAuthenticationResponse({ response, expectedChallenge: options.challenge, expectedOrigin: origin, expectedRPID: rpID, credential, requireUserVerification: true });
}

describe('SoftAuthenticator registration', () => {
  it('makes the response startRegistration returns, and it verifies as attestation none with counter 1', async () => {
    const authenticator = new SoftAuthenticator({ origin });
    const { userId, response, verification } = await enrol(authenticator);
    expect(response).toEqual({
      id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      rawId: response.id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: { credProps: { rk: true } },
      response: {
        clientDataJSON: expect.any(String),
        attestationObject: expect.any(String),
        authenticatorData: expect.any(String),
        transports: ['internal'],
        publicKey: expect.any(String),
        publicKeyAlgorithm: -7,
      },
    });
    expect(verification).toEqual({
      verified: true,
      registrationInfo: {
        fmt: 'none',
        aaguid: ZERO_AAGUID,
        credentialType: 'public-key',
        credential: { id: response.id, publicKey: expect.any(Uint8Array), counter: 1, transports: ['internal'] },
        attestationObject: expect.any(Uint8Array),
        userVerified: true,
        credentialDeviceType: 'singleDevice',
        credentialBackedUp: false,
        origin,
        rpID,
        authenticatorExtensionResults: undefined,
      },
    });
    expect(authenticator.credentials()).toEqual([{ id: response.id, rpId: rpID, userHandle: userId, signCount: 1 }]);
  });

  it('reports a synced passkey (BE and BS) and the configured AAGUID', async () => {
    const aaguid = 'ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4';
    const { verification } = await enrol(new SoftAuthenticator({ origin, backupEligible: true, backedUp: true, aaguid }));
    expect(verification.registrationInfo).toMatchObject({ aaguid, credentialDeviceType: 'multiDevice', credentialBackedUp: true });
    const { verification: notSynced } = await enrol(new SoftAuthenticator({ origin, backupEligible: true }));
    expect(notSynced.registrationInfo).toMatchObject({ credentialDeviceType: 'multiDevice', credentialBackedUp: false });
  });

  it('keeps only clientDataJSON and attestationObject in the spa-js shape, which still verifies', async () => {
    const options = await registrationOptions('alice');
    const full = new SoftAuthenticator({ origin }).register(options);
    const spa = toSpaJsShape(full);
    expect(spa).toEqual({
      id: full.id,
      rawId: full.id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      response: { clientDataJSON: full.response.clientDataJSON, attestationObject: full.response.attestationObject },
      clientExtensionResults: { credProps: { rk: true } },
    });
    const verification = await verifyRegistration(spa, options.challenge);
    expect(verification.verified).toBe(true);
    expect(verification.registrationInfo?.credential).toEqual({ id: full.id, publicKey: expect.any(Uint8Array), counter: 1, transports: undefined });
  });

  it('is refused by the verifier for a wrong challenge, a phishing origin or no user verification', async () => {
    const options = await registrationOptions('alice');
    const other = await registrationOptions('alice');
    const authenticator = new SoftAuthenticator({ origin });
    await expect(verifyRegistration(authenticator.register(options), other.challenge)).rejects.toThrow(
      `Unexpected registration response challenge "${options.challenge}", expected "${other.challenge}"`,
    );
    const phished = authenticator.register(options, { clientDataOrigin: 'https://evil.example' });
    await expect(verifyRegistration(phished, options.challenge)).rejects.toThrow(
      'Unexpected registration response origin "https://evil.example", expected "http://localhost:3000"',
    );
    const noUv = new SoftAuthenticator({ origin, uv: false });
    const preferred = { ...options, authenticatorSelection: { residentKey: 'required' as const, userVerification: 'preferred' as const } };
    await expect(verifyRegistration(noUv.register(preferred), options.challenge)).rejects.toThrow('User verification was required, but user could not be verified');
  });

  it('refuses what a browser and authenticator refuse: required UV it cannot do, an excluded credential, a foreign RP ID, no ES256', async () => {
    const authenticator = new SoftAuthenticator({ origin, uv: false });
    const options = await registrationOptions('alice');
    expect(() => authenticator.register(options)).toThrow(expect.objectContaining({ name: 'NotAllowedError' }));
    authenticator.uv = true;
    const first = authenticator.register(options);
    const again = { ...options, excludeCredentials: [{ id: first.id, type: 'public-key' as const }] };
    expect(() => authenticator.register(again)).toThrow(expect.objectContaining({ name: 'InvalidStateError', message: 'The authenticator was previously registered' }));
    // Without excludeCredentials the same user's new resident key replaces the old one, as in CTAP2.
    const replaced = authenticator.register(options);
    expect(authenticator.credentials().map((c) => c.id)).toEqual([replaced.id]);
    expect(() => authenticator.register({ ...options, rp: { name: 'x', id: 'example.com' } })).toThrow(
      expect.objectContaining({ name: 'SecurityError', message: 'example.com is an invalid domain for http://localhost:3000' }),
    );
    expect(() => new SoftAuthenticator({ origin: 'http://127.0.0.1:3000' }).register({ ...options, rp: { name: 'x', id: '127.0.0.1' } })).toThrow(
      expect.objectContaining({ name: 'SecurityError' }),
    );
    expect(() => authenticator.register({ ...options, pubKeyCredParams: [{ type: 'public-key', alg: -8 }] })).toThrow(expect.objectContaining({ name: 'NotSupportedError' }));
    expect(() => new SoftAuthenticator({ origin: 'http://example.com' })).toThrow('http://example.com is not a secure context');
  });
});

describe('SoftAuthenticator authentication', () => {
  it('signs assertions that verify, with the counter going up by one each time', async () => {
    const authenticator = new SoftAuthenticator({ origin });
    const { userId, credential } = await enrol(authenticator);
    for (const expected of [2, 3]) {
      const options = await signInOptions('required', [credential]);
      const response = authenticator.authenticate(options);
      expect(response).toEqual({
        id: credential.id,
        rawId: credential.id,
        type: 'public-key',
        authenticatorAttachment: 'platform',
        clientExtensionResults: {},
        response: { clientDataJSON: expect.any(String), authenticatorData: expect.any(String), signature: expect.any(String), userHandle: userId },
      });
      const verification = await verifyAssertion(response, options, credential);
      expect(verification).toEqual({
        verified: true,
        authenticationInfo: {
          newCounter: expected,
          credentialID: credential.id,
          userVerified: true,
          credentialDeviceType: 'singleDevice',
          credentialBackedUp: false,
          authenticatorExtensionResults: undefined,
          origin,
          rpID,
        },
      });
      credential.counter = verification.authenticationInfo.newCounter;
    }
  });

  it('answers a discoverable request with the newest credential and its userHandle, or the one asked for', async () => {
    const authenticator = new SoftAuthenticator({ origin });
    const alice = await enrol(authenticator, 'alice');
    const bob = await enrol(authenticator, 'bob');
    const options = await signInOptions();
    expect(options.allowCredentials).toEqual([]);
    const newest = authenticator.authenticate(options);
    expect([newest.id, newest.response.userHandle]).toEqual([bob.credential.id, bob.userId]);
    expect((await verifyAssertion(newest, options, bob.credential)).verified).toBe(true);

    const chosen = authenticator.authenticate(await signInOptions(), { credentialId: alice.credential.id });
    expect([chosen.id, chosen.response.userHandle]).toEqual([alice.credential.id, alice.userId]);
    const allowed = authenticator.authenticate(await signInOptions('required', [alice.credential]));
    expect(allowed.id).toBe(alice.credential.id);
    expect(() => new SoftAuthenticator({ origin }).authenticate(options)).toThrow(expect.objectContaining({ name: 'NotAllowedError' }));
  });

  it('is refused by the verifier for a wrong challenge, a phishing origin, no user verification or a tampered signature', async () => {
    const authenticator = new SoftAuthenticator({ origin });
    const { credential } = await enrol(authenticator);
    const options = await signInOptions();
    const other = await signInOptions();
    await expect(verifyAssertion(authenticator.authenticate(options), other, credential)).rejects.toThrow(
      `Unexpected authentication response challenge "${options.challenge}", expected "${other.challenge}"`,
    );
    const phished = authenticator.authenticate(options, { clientDataOrigin: 'https://evil.example' });
    await expect(verifyAssertion(phished, options, credential)).rejects.toThrow(
      'Unexpected authentication response origin "https://evil.example", expected "http://localhost:3000"',
    );

    authenticator.uv = false;
    expect(() => authenticator.authenticate(options)).toThrow(expect.objectContaining({ name: 'NotAllowedError' }));
    const preferred = await signInOptions('preferred');
    await expect(verifyAssertion(authenticator.authenticate(preferred), preferred, credential)).rejects.toThrow('User verification required, but user could not be verified');

    authenticator.uv = true;
    const honest = authenticator.authenticate(options);
    const signature = Buffer.from(honest.response.signature, 'base64url');
    signature.writeUInt8(signature.readUInt8(signature.length - 1) ^ 0x01, signature.length - 1);
    const tampered = { ...honest, response: { ...honest.response, signature: signature.toString('base64url') } };
    // The verifier answers a bad signature with verified: false rather than an error.
    expect(await verifyAssertion(tampered, options, credential)).toEqual({ verified: false, authenticationInfo: expect.any(Object) });
    expect((await verifyAssertion(honest, options, credential)).verified).toBe(true);
  });

  it('lets a cloned credential sign, and the verifier catches the counter that went back', async () => {
    const original = new SoftAuthenticator({ origin });
    const { credential } = await enrol(original);
    const clone = new SoftAuthenticator({ origin });
    clone.importCredential(original.exportCredential(credential.id));
    expect(clone.credentials()).toEqual(original.credentials());

    const first = await signInOptions();
    const fromOriginal = await verifyAssertion(original.authenticate(first), first, credential);
    expect(fromOriginal.authenticationInfo.newCounter).toBe(2);
    const stored = { ...credential, counter: fromOriginal.authenticationInfo.newCounter };
    const second = await signInOptions();
    await expect(verifyAssertion(clone.authenticate(second), second, stored)).rejects.toThrow('Response counter value 2 was lower than expected 2');

    original.setCounter(credential.id, 0);
    const third = await signInOptions();
    await expect(verifyAssertion(original.authenticate(third), third, stored)).rejects.toThrow('Response counter value 1 was lower than expected 2');
    expect(original.credentials()[0]?.signCount).toBe(1);
  });
});
