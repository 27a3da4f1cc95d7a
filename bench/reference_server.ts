/**
 * The yardstick of the bench's HTTP figures: a bare `Deno.serve` answering what the core's
 * GET /health answers (`{"status":"ok"}` as JSON), with none of our code in between. Started by
 * bench/reference.ts as a `deno run` of its own: `deno run --allow-net=127.0.0.1:<port>
 * bench/reference_server.ts <port>`. Prints "ready" once it listens.
 */
const BODY = JSON.stringify({ status: "ok" });
const HEADERS = { "content-type": "application/json" };

Deno.serve(
  { hostname: "127.0.0.1", port: Number(Deno.args[0]), onListen: () => console.log("ready") },
  () => new Response(BODY, { headers: HEADERS }),
);
