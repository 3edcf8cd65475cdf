// Starts Swagger UI on this gateway's OpenAPI document. A file, not an inline script: the pages' CSP admits only
// scripts from this gateway. validatorUrl null: Swagger UI would otherwise send the document to swagger.io.
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  deepLinking: true,
  validatorUrl: null,
});
