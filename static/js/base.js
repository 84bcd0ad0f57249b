// Behaviour every page shares. No inline handlers: the Content-Security-Policy allows scripts
// from this site's files only.
"use strict";

// A select marked data-submit-on-change (the language menu) submits its form when changed.
document.querySelectorAll("select[data-submit-on-change]").forEach((select) => {
  select.addEventListener("change", () => select.form.submit());
});
