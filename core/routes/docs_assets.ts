/**
 * Swagger UI's files for GET /docs, served by the core itself: the page works without internet
 * access and under a CSP that allows only the core's own origin. They come from the pinned npm
 * package `swagger-ui-dist` (deno.json, deno.lock) as text imports (docs_files.ts), so they are
 * cached with every other dependency at build time and the core needs no read access to its code
 * or Deno's cache.
 */

/** One file the /docs page loads. */
export interface DocsAsset {
  /** Its URL path on the core. */
  path: string;
  /** Content-Type it is served with. */
  contentType: string;
  /** The file (loaded on first use). */
  body: () => Promise<string>;
  /** What it is, for the OpenAPI document. */
  summary: string;
}

// A browser would ask for the source map on opening its developer tools; the maps are not
// served, so the pointer at the end of a file goes.
const withoutSourceMap = (text: string) =>
  text.replace(/\n(?:\/\/# sourceMappingURL=\S+|\/\*# sourceMappingURL=[^*]*\*\/)\s*$/, "\n");

const files = async () => (await import("./docs_files.ts")).SWAGGER_UI_FILES;

// No inline script in the page, so a `script-src 'self'` CSP lets it run.
const init = `window.ui = SwaggerUIBundle({
  url: new URL("openapi.json", document.baseURI).href,
  dom_id: "#swagger-ui",
  persistAuthorization: true,
});
`;

/** The files, each served at its path. */
export const DOCS_ASSETS: readonly DocsAsset[] = [
  {
    path: "/docs/swagger-ui.css",
    contentType: "text/css; charset=utf-8",
    body: async () => withoutSourceMap((await files()).css),
    summary: "Swagger UI's stylesheet (swagger-ui-dist)",
  },
  {
    path: "/docs/swagger-ui-bundle.js",
    contentType: "text/javascript; charset=utf-8",
    body: async () => withoutSourceMap((await files()).bundle),
    summary: "Swagger UI's script (swagger-ui-dist)",
  },
  {
    path: "/docs/swagger-init.js",
    contentType: "text/javascript; charset=utf-8",
    body: () => Promise.resolve(init),
    summary: "Starts Swagger UI on /openapi.json",
  },
];

/** The /docs page: Swagger UI from the files above, all relative, so a path prefix works. */
export const DOCS_PAGE: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Memori API</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/swagger-init.js"></script>
</body>
</html>
`;
