// Authorization codes and refresh tokens are single use. oidc-provider checks `consumed` on the row
// it read and then consumes it; two parallel redemptions both read it unconsumed (PostgreSQL does not
// serialise them as SQLite does), so storage's conditional consume decides, and the loser is handled
// as the detected reuse it is: refused, and the whole grant revoked, winner's tokens included.
// A refresh's or a code's consume is held back and written with its new tokens (storage's withHeldConsume); its
// loss comes later, as ConsumeLost, and is answered the same.
import type { Adapter, AdapterPayload, KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { Db } from '../storage/db.js';
import { ConsumeLost, createAdapterClass, withHeldConsume } from '../storage/oidc-adapter.js';
import { currentRequest } from './internals.js';
import { inProviderTerms } from './storage-errors.js';

// oidc-provider's own wording for a reuse it detects (grant_source.js, refresh_token.js).
const REUSE: Record<string, string> = {
  AuthorizationCode: 'authorization code already consumed',
  RefreshToken: 'refresh token already used',
  DeviceCode: 'device code already consumed',
  BackchannelAuthenticationRequest: 'backchannel authentication request already consumed',
};

type GrantHandler = (ctx: KoaContextWithOIDC) => Promise<void>;

/**
 * The oidc-provider adapter: storage's, with a lost consume race turned into a detected reuse and
 * storage failures into oidc-provider's 503 (storage-errors.ts). `holdingConsume` wraps a grant
 * handler whose consume is to be written with its tokens.
 */
export function singleUseAdapter(
  db: Db,
  onReuse: (model: string, grantId: string | undefined) => void,
): (new (model: string) => Adapter) & { holdingConsume(handler: GrantHandler): GrantHandler } {
  const Storage = createAdapterClass(db, currentRequest);

  /** Revokes the grant of a token used twice at once and refuses this use. */
  async function refuseReuse(model: string, id: string): Promise<never> {
    const grantId = (await new Storage(model).find(id))?.grantId;
    if (grantId) {
      // Every token of the grant (one DELETE by grantId, whatever the model), then the Grant row,
      // so even tokens the winner saves after this fail their grant check.
      await new Storage(model).revokeByGrantId(grantId);
      await new Storage('Grant').destroy(grantId);
    }
    onReuse(model, grantId);
    // A pushed authorization request has no grant: oidc-provider's answer to a used request_uri.
    if (model === 'PushedAuthorizationRequest') throw new errors.InvalidRequestUri('request_uri is invalid, expired, or was already used');
    throw new errors.InvalidGrant(REUSE[model] ?? `${model} already consumed`);
  }
  /** A storage failure in oidc-provider's terms; a held consume that lost, as the reuse it is. */
  const settle = (err: unknown): Promise<never> => (err instanceof ConsumeLost ? refuseReuse(err.model, err.id).catch(inProviderTerms) : inProviderTerms(err));

  return class SingleUseAdapter implements Adapter {
    static holdingConsume(handler: GrantHandler): GrantHandler {
      return (ctx) => withHeldConsume(db, ctx, () => handler(ctx)).catch(settle);
    }

    readonly #storage: InstanceType<typeof Storage>;
    constructor(readonly model: string) {
      this.#storage = new Storage(model);
    }

    upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      return this.#storage.upsert(id, payload, expiresIn).catch(settle);
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
      return this.#storage.destroy(id).catch(settle);
    }
    revokeByGrantId(grantId: string) {
      return this.#storage.revokeByGrantId(grantId).catch(settle);
    }

    async consume(id: string): Promise<void> {
      const consumed = await this.#storage.consume(id).catch(settle);
      if (!consumed) await settle(new ConsumeLost(this.model, id));
    }
  };
}
