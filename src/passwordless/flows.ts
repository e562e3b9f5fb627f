// Keys of passwordless state: the hosted flow keys codes by interaction, the API flow by client
// and identifier, so the same code never crosses from one client to another.
export const interactionFlowKey = (uid: string) => `i:${uid}`;
export const apiFlowKey = (clientId: string, identifier: string) => `a:${clientId}:${identifier}`;
