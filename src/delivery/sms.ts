// Routes outbox messages of channel 'sms' to the provider of the SMS connection they name, and
// with sign-up closed, sends only to numbers of accounts.
import type { SmsConnection } from '../config/schema.js';
import { smsConnections, type Connection } from '../config/connections.js';
import type { Db } from '../storage/db.js';
import { findUserByPhone } from '../storage/users.js';
import { isFactorPhone } from '../storage/mfa.js';
import { captureChannel } from './channels.js';
import { gatewayChannel } from './sms-gateway.js';
import { twilioChannel, type SmsChannelOptions } from './sms-twilio.js';
import type { Channel } from './worker.js';
import { DeliveryError } from './errors.js';

export function smsChannelFor(connection: SmsConnection, options: SmsChannelOptions = {}): Channel {
  const provider = connection.provider;
  switch (provider.type) {
    case 'twilio':
      return twilioChannel(provider, options);
    case 'http':
      return gatewayChannel(provider, options);
    case 'capture':
      return captureChannel;
  }
}

/** One channel for every SMS connection; a message naming no SMS connection is given up at once. */
export function smsChannel(config: { readonly connections: readonly Connection[] }, options: SmsChannelOptions = {}): Channel {
  const byId = new Map(smsConnections(config).map((c) => [c.id, smsChannelFor(c, options)] as const));
  return {
    async send(message) {
      const channel = message.connectionId === undefined ? undefined : byId.get(message.connectionId);
      if (!channel) throw new DeliveryError(`no SMS connection ${message.connectionId ?? '(none)'}`, true);
      return channel.send(message);
    },
  };
}

/**
 * With sign-up closed, texts (which cost money) go only to numbers of accounts (or of their SMS factors). The request path
 * queues the same message for every number, so its answer takes the same work whether or not the
 * number has an account; the lookup happens here, after the answer.
 */
export function textAccountsOnly(channel: Channel, db: Db): Channel {
  return {
    async send(message) {
      if (!(await findUserByPhone(db, message.recipient)) && !(await isFactorPhone(db, message.recipient))) return { skipped: 'no account' };
      return channel.send(message);
    },
  };
}
