// Connections that reach a server with a peer address that is not this machine's, for tests of
// decisions made on the TCP peer (the dev outbox answers loopback peers only). A real socket on
// 127.0.0.1 is accepted here and handed to the server with `remoteAddress` replaced, which is
// everything the server reads of the peer.
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MaskedPeer {
  /** http://127.0.0.1:<port> of the front door; requests to it arrive from `address`. */
  url: string;
  close(): Promise<void>;
}

export async function maskedPeer(target: Server, address: string): Promise<MaskedPeer> {
  const sockets = new Set<Socket>();
  const front: NetServer = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    Object.defineProperty(socket, 'remoteAddress', { value: address });
    target.emit('connection', socket);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(front.address() as AddressInfo).port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => front.close(resolve));
    },
  };
}
