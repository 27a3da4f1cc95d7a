/**
 * The files of swagger-ui-dist that /docs serves, as text imports (see docs_assets.ts). Loaded on
 * the first request for one: held in memory they add about 10 MB to the core, which most runs
 * never need.
 */
import bundle from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "text" };
import css from "swagger-ui-dist/swagger-ui.css" with { type: "text" };

/** Swagger UI's script and stylesheet, as published. */
export const SWAGGER_UI_FILES: { bundle: string; css: string } = { bundle, css };
