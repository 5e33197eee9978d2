// Starts GOV.UK Frontend's components. A file, not an inline script: the Content-Security-Policy
// lets no inline script run but GOV.UK's template's own (by its nonce).
import { initAll } from "/static/govuk/govuk-frontend.min.js";

initAll();
