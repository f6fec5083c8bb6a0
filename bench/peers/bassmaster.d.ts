// bassmaster ships no types: a hapi plugin object is all the bench uses.
declare module 'bassmaster' {
  const plugin: { plugin: { name: string; register: (server: unknown, options?: unknown) => void } };
  export default plugin;
}
