// Swagger UI for /docs, served from our own static files (the CSP allows no CDN or inline script).
window.addEventListener("load", function () {
  window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
