import { makeCore } from "./helpers/core_app.ts";
const core = await makeCore();
for (let i = 0; i < 10000; i++) await core.app.request(`/junk/${i}`, { method: `X${i}` });
const text = await (await core.app.request("/metrics")).text();
console.log("metrics bytes after 10000 junk requests:", text.length);
await core.close();
Deno.exit(0);
