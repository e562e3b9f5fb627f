// Authorization codes and refresh tokens are single use. oidc-provider checks `consumed` on the row
// it read and then consumes it; two parallel redemptions both read it unconsumed (PostgreSQL does not
// serialise them as SQLite does), so storage's conditional consume decides, and the loser is handled
// as the detected reuse it is: refused, and the whole grant revoked, winner's tokens included.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { Db } from '../storage/db.js';
import { createAdapterClass } from '../storage/oidc-adapter.js';
import { currentRequest } from './internals.js';
import { inProviderTerms } from './storage-errors.js';

// oidc-provider's own wording for a reuse it detects (grant_source.js, refresh_token.js).
const REUSE: Record<string, string> = {
  AuthorizationCode: 'authorization code already consumed',
  RefreshToken: 'refresh token already used',
  DeviceCode: 'device code already consumed',
  BackchannelAuthenticationRequest: 'backchannel authentication request already consumed',
};

/**
 * The oidc-provider adapter: storage's, with a lost consume race turned into a detected reuse and
 * storage failures into oidc-provider's 503 (storage-errors.ts).
 */
export function singleUseAdapter(db: Db, onReuse: (model: string, grantId: string | undefined) => void): new (model: string) => Adapter {
  const Storage = createAdapterClass(db, currentRequest);
  return class SingleUseAdapter implements Adapter {
    readonly #storage: InstanceType<typeof Storage>;
    constructor(readonly model: string) {
      this.#storage = new Storage(model);
    }

    upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      return this.#storage.upsert(id, payload, expiresIn).catch(inProviderTerms);
    }
    find(id: string) {
      return this.#storage.find(id).catch(inProviderTerms);
    }
    findByUid(uid: string) {
      return this.#storage.findByUid(uid).catch(inProviderTerms);
    }
    findByUserCode(userCode: string) {
      return this.#storage.findByUserCode(userCode).catch(inProviderTerms);
    }
    destroy(id: string) {
      return this.#storage.destroy(id).catch(inProviderTerms);
    }
    revokeByGrantId(grantId: string) {
      return this.#storage.revokeByGrantId(grantId).catch(inProviderTerms);
    }

    consume(id: string): Promise<void> {
      return this.#consume(id).catch(inProviderTerms);
    }

    async #consume(id: string): Promise<void> {
      if (await this.#storage.consume(id)) return;
      const grantId = (await this.#storage.find(id))?.grantId;
      if (grantId) {
        // Every token of the grant (one DELETE by grantId, whatever the model), then the Grant row,
        // so even tokens the winner saves after this fail their grant check.
        await this.#storage.revokeByGrantId(grantId);
        await new Storage('Grant').destroy(grantId);
      }
      onReuse(this.model, grantId);
      // A pushed authorization request has no grant: oidc-provider's answer to a used request_uri.
      if (this.model === 'PushedAuthorizationRequest') throw new errors.InvalidRequestUri('request_uri is invalid, expired, or was already used');
      throw new errors.InvalidGrant(REUSE[this.model] ?? `${this.model} already consumed`);
    }
  };
}
