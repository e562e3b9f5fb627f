// A software passkey with a browser's client side in front of it, for API tests in Node that need
// real WebAuthn responses without Chromium. The crypto is real (ES256 over P-256 with node:crypto,
// attestation 'none'), so every check a relying party makes (challenge, origin, rpIdHash, flags,
// counter, signature) sees what a real passkey sends, and an attack a knob sets up is caught or
// missed by the verifier, not by this file. It behaves like Chromium's virtual authenticator
// (PROTOCOLS-NEXT B.1): resident credentials only, the newest one answers a discoverable request,
// the counter goes up by one on every use (registration included), userHandle always returned.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialDescriptorJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
  UserVerificationRequirement,
} from '@simplewebauthn/server';

// authenticatorData flags (WebAuthn §6.1).
const UP = 0x01;
const UV = 0x04;
const BE = 0x08;
const BS = 0x10;
const AT = 0x40;
const ES256 = -7;
type CborValue = Parameters<typeof isoCBOR.encode>[0];

export interface SoftAuthenticatorOptions {
  /** The page's origin as a browser writes it into clientDataJSON: scheme, host and port. */
  origin: string;
  /** Whether the authenticator can verify the user (a PIN or biometric); settable later as `uv`. */
  uv?: boolean;
  /** BE flag: the credential may be synced (a multi-device passkey). */
  backupEligible?: boolean;
  /** BS flag: the credential is synced now. Needs backupEligible. */
  backedUp?: boolean;
  /** AAGUID as 8-4-4-4-12 hex; all zeros (what 'none' attestation usually carries) by default. */
  aaguid?: string;
}

/** Per ceremony: what a client that is not an honest browser (a relay, a phishing kit) can change. */
export interface CeremonyOptions {
  /** Written into clientDataJSON instead of the page origin. A browser would never do this. */
  clientDataOrigin?: string;
}

export interface AssertionOptions extends CeremonyOptions {
  /** Answer with this credential (base64url id) instead of the one the authenticator would pick. */
  credentialId?: string;
}

/** What credentials() lists: the public facts of one resident credential. */
export interface CredentialInfo {
  id: string;
  rpId: string;
  userHandle: string;
  signCount: number;
}

/** A whole credential, private key included: importCredential() on another authenticator clones it. */
export interface ExportedCredential extends CredentialInfo {
  /** PKCS#8 DER, base64url. */
  privateKey: string;
}

interface StoredCredential {
  id: Buffer;
  rpId: string;
  userHandle: Buffer;
  signCount: number;
  privateKey: KeyObject;
}

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest();

function uint32(n: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(n);
  return out;
}

/** A browser's refusal: the DOMException name a page would see from navigator.credentials. */
function refuse(name: 'NotAllowedError' | 'InvalidStateError' | 'NotSupportedError' | 'SecurityError', message: string): DOMException {
  return new DOMException(message, name);
}

/** Base64url of the bytes a browser would decode the option into (it re-encodes, so padding goes). */
function decodeOption(value: string, what: string): Buffer {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(value)) throw new TypeError(`${what} is not base64url: ${value}`);
  return Buffer.from(value, 'base64url');
}

/** The credential public key as COSE_Key (RFC 9053: EC2, P-256, ES256), in CTAP2's canonical order. */
function coseKey(privateKey: KeyObject): Uint8Array {
  const jwk = privateKey.export({ format: 'jwk' });
  const coordinate = (value: string | undefined) => new Uint8Array(Buffer.from(value ?? '', 'base64url'));
  return isoCBOR.encode(
    new Map<number, CborValue>([
      [1, 2],
      [3, ES256],
      [-1, 1],
      [-2, coordinate(jwk.x)],
      [-3, coordinate(jwk.y)],
    ]),
  );
}

export class SoftAuthenticator {
  /** User verification available (the UV flag is set when the request does not discourage it). */
  uv: boolean;
  readonly origin: string;
  private readonly backupEligible: boolean;
  private readonly backedUp: boolean;
  private readonly aaguid: Buffer;
  // Oldest first: a discoverable request takes the last match, as Chromium does.
  private store: StoredCredential[] = [];

  constructor({ origin, uv = true, backupEligible = false, backedUp = false, aaguid }: SoftAuthenticatorOptions) {
    const url = new URL(origin);
    if (url.origin !== origin) throw new TypeError(`origin must be scheme://host[:port], got ${origin}`);
    const local = url.hostname === 'localhost' || url.hostname.endsWith('.localhost');
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) throw refuse('SecurityError', `${origin} is not a secure context`);
    if (backedUp && !backupEligible) throw new TypeError('backedUp needs backupEligible (BS without BE is invalid)');
    const hex = (aaguid ?? '00000000-0000-0000-0000-000000000000').replaceAll('-', '');
    if (!/^[0-9a-f]{32}$/i.test(hex)) throw new TypeError(`aaguid must be 16 bytes of hex, got ${aaguid}`);
    this.origin = origin;
    this.uv = uv;
    this.backupEligible = backupEligible;
    this.backedUp = backedUp;
    this.aaguid = Buffer.from(hex, 'hex');
  }

  /** navigator.credentials.create() as @simplewebauthn/browser's startRegistration returns it. */
  register(options: PublicKeyCredentialCreationOptionsJSON, call: CeremonyOptions = {}): RegistrationResponseJSON {
    const rpId = this.rpIdFor(options.rp.id);
    if (!options.pubKeyCredParams.some((p) => p.type === 'public-key' && p.alg === ES256)) {
      throw refuse('NotSupportedError', 'The authenticator supports only ES256 (-7) and the options do not offer it');
    }
    const uvDone = this.verifyUser(options.authenticatorSelection?.userVerification);
    const excluded = options.excludeCredentials ?? [];
    if (excluded.length > 0 && this.find(rpId, excluded).length > 0) {
      throw refuse('InvalidStateError', 'The authenticator was previously registered');
    }
    const userHandle = decodeOption(options.user.id, 'user.id');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const credential: StoredCredential = { id: randomBytes(16), rpId, userHandle, signCount: 1, privateKey };
    // A resident key replaces the one the authenticator already holds for this user on this RP (CTAP2 makeCredential).
    this.store = this.store.filter((c) => !(c.rpId === rpId && c.userHandle.equals(userHandle)));
    this.store.push(credential);

    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(credential.id.length);
    const attested = Buffer.concat([this.aaguid, idLength, credential.id, coseKey(privateKey)]);
    const authData = Buffer.concat([this.authDataHead(rpId, uvDone, AT, credential.signCount), attested]);
    const attestationObject = isoCBOR.encode(
      new Map<string, CborValue>([
        ['fmt', 'none'],
        ['attStmt', new Map<string, CborValue>()],
        ['authData', new Uint8Array(authData)],
      ]),
    );
    const credProps = options.extensions?.credProps ? { credProps: { rk: true } } : {};
    return {
      id: b64url(credential.id),
      rawId: b64url(credential.id),
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: credProps,
      response: {
        clientDataJSON: this.clientData('webauthn.create', options.challenge, call),
        attestationObject: b64url(attestationObject),
        authenticatorData: b64url(authData),
        transports: ['internal'],
        publicKey: b64url(createPublicKey(privateKey).export({ type: 'spki', format: 'der' })),
        publicKeyAlgorithm: ES256,
      },
    };
  }

  /** navigator.credentials.get() as startAuthentication returns it; discoverable when allowCredentials is empty. */
  authenticate(options: PublicKeyCredentialRequestOptionsJSON, call: AssertionOptions = {}): AuthenticationResponseJSON {
    const rpId = this.rpIdFor(options.rpId);
    const uvDone = this.verifyUser(options.userVerification);
    const candidates = this.find(rpId, options.allowCredentials ?? []);
    const credential = call.credentialId === undefined ? candidates.at(-1) : candidates.find((c) => b64url(c.id) === call.credentialId);
    if (!credential) throw refuse('NotAllowedError', `No credential for ${rpId} matches the request`);
    credential.signCount += 1;
    const authData = this.authDataHead(rpId, uvDone, 0, credential.signCount);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, call);
    // ES256 in WebAuthn is ECDSA over authData || sha256(clientDataJSON), signature DER-encoded (node's default).
    const signature = sign('sha256', Buffer.concat([authData, sha256(Buffer.from(clientDataJSON, 'base64url'))]), credential.privateKey);
    return {
      id: b64url(credential.id),
      rawId: b64url(credential.id),
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: { clientDataJSON, authenticatorData: b64url(authData), signature: b64url(signature), userHandle: b64url(credential.userHandle) },
    };
  }

  /** The resident credentials, oldest first. */
  credentials(): CredentialInfo[] {
    return this.store.map((c) => ({ id: b64url(c.id), rpId: c.rpId, userHandle: b64url(c.userHandle), signCount: c.signCount }));
  }

  /** Sets the stored counter; the next assertion reports n + 1. Lower it to play a clone that fell behind. */
  setCounter(credentialId: string, n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`counter must be a uint32, got ${n}`);
    this.credential(credentialId).signCount = n;
  }

  /** Everything needed to clone the credential onto another SoftAuthenticator, counter included. */
  exportCredential(credentialId: string): ExportedCredential {
    const c = this.credential(credentialId);
    const privateKey = b64url(c.privateKey.export({ type: 'pkcs8', format: 'der' }));
    return { id: b64url(c.id), rpId: c.rpId, userHandle: b64url(c.userHandle), signCount: c.signCount, privateKey };
  }

  /** Adds an exported credential as the newest one (replacing one with the same id). */
  importCredential(exported: ExportedCredential): void {
    const id = Buffer.from(exported.id, 'base64url');
    const privateKey = createPrivateKey({ key: Buffer.from(exported.privateKey, 'base64url'), format: 'der', type: 'pkcs8' });
    this.store = this.store.filter((c) => !c.id.equals(id));
    this.store.push({ id, rpId: exported.rpId, userHandle: Buffer.from(exported.userHandle, 'base64url'), signCount: exported.signCount, privateKey });
  }

  private credential(credentialId: string): StoredCredential {
    const found = this.store.find((c) => b64url(c.id) === credentialId);
    if (!found) throw new Error(`no credential ${credentialId} on this authenticator`);
    return found;
  }

  /** This RP's credentials, narrowed to the descriptors when there are any. */
  private find(rpId: string, descriptors: PublicKeyCredentialDescriptorJSON[]): StoredCredential[] {
    const listed = new Set(descriptors.map((d) => b64url(decodeOption(d.id, 'credential id'))));
    return this.store.filter((c) => c.rpId === rpId && (listed.size === 0 || listed.has(b64url(c.id))));
  }

  /** The browser's check: the RP ID is the page's host or a parent domain of it, never an IP address. */
  private rpIdFor(requested: string | undefined): string {
    const host = new URL(this.origin).hostname;
    const rpId = requested ?? host;
    if (isIP(rpId) !== 0 || !(host === rpId || host.endsWith(`.${rpId}`))) throw refuse('SecurityError', `${rpId} is an invalid domain for ${this.origin}`);
    return rpId;
  }

  /** Whether the user is verified; a request that requires it fails on an authenticator that cannot. */
  private verifyUser(requirement: UserVerificationRequirement | undefined): boolean {
    if (requirement === 'required' && !this.uv) throw refuse('NotAllowedError', 'User verification was required and the authenticator cannot do it');
    return this.uv && requirement !== 'discouraged';
  }

  /** rpIdHash, flags and counter: the 37 bytes every authenticatorData starts with. */
  private authDataHead(rpId: string, uvDone: boolean, extraFlags: number, signCount: number): Buffer {
    let flags = UP | extraFlags | (uvDone ? UV : 0);
    if (this.backupEligible) flags |= BE;
    if (this.backedUp) flags |= BS;
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), uint32(signCount)]);
  }

  private clientData(type: 'webauthn.create' | 'webauthn.get', challenge: string, call: CeremonyOptions): string {
    const origin = call.clientDataOrigin ?? this.origin;
    const json = JSON.stringify({ type, challenge: b64url(decodeOption(challenge, 'challenge')), origin, crossOrigin: false });
    return Buffer.from(json).toString('base64url');
  }
}

/** What @auth0/auth0-spa-js sends for a registration: the response keeps only clientDataJSON and attestationObject (B.5). */
export function toSpaJsShape(registration: RegistrationResponseJSON): RegistrationResponseJSON {
  const { id, rawId, type, authenticatorAttachment, clientExtensionResults, response } = registration;
  return { id, rawId, type, authenticatorAttachment, response: { clientDataJSON: response.clientDataJSON, attestationObject: response.attestationObject }, clientExtensionResults };
}
