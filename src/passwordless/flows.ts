// Keys of passwordless state: the hosted flow keys codes by interaction, the API flow by client,
// requester network (requester-network.ts) and identifier, so the same code never crosses from one
// client to another, and a send from another network (same public client, same address) never
// retires the code the requester is using.
export const interactionFlowKey = (uid: string) => `i:${uid}`;
export const apiFlowKey = (clientId: string, identifier: string, network: string) => `a:${clientId}:${network}:${identifier}`;
