// Flow keys: stored codes and login links carry them, so the encoding must stay byte for byte what
// it was; decoding gives back the kind (and an interaction's uid) without slicing by prefix length.
import { describe, expect, it } from 'vitest';
import { apiFlowKey, decodeFlowKey, encodeFlowKey, interactionFlowKey } from '../../src/passwordless/flows.js';

describe('flow keys', () => {
  it('encode as stored rows have them', () => {
    expect(interactionFlowKey('abc-123')).toBe('i:abc-123');
    expect(encodeFlowKey({ kind: 'interaction', uid: 'abc-123' })).toBe('i:abc-123');
    expect(apiFlowKey('app', 'ann@example.com', '2001:db8:1:2::/64')).toBe('a:app:2001:db8:1:2::/64:ann@example.com');
  });

  it('decode an interaction key to its uid, whatever the uid holds', () => {
    expect(decodeFlowKey('i:abc-123')).toEqual({ kind: 'interaction', uid: 'abc-123' });
    expect(decodeFlowKey(interactionFlowKey('a:b:c'))).toEqual({ kind: 'interaction', uid: 'a:b:c' });
  });

  it('decode an API key to its kind only', () => {
    expect(decodeFlowKey(apiFlowKey('urn:app', '+14155550100', '192.0.2.0/24'))).toEqual({ kind: 'api' });
  });

  it('refuse keys of no known kind', () => {
    expect(decodeFlowKey('abc-123')).toBeNull();
    expect(decodeFlowKey('x:abc')).toBeNull();
    expect(decodeFlowKey('')).toBeNull();
  });
});
