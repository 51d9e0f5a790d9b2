/* Starts Swagger UI on the app's own OpenAPI schema (a file, so the page's CSP allows it). */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
