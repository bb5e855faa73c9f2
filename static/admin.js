/* Behaviour Flask-Admin wrote as inline handlers, bound here so the CSP can forbid inline scripts. */
(function () {
  "use strict";
  /* Forms that ask before they act: data-confirm="Supprimer … ?" */
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
  /* Buttons that ask before they act (a row's buttons share one form, each has its question). */
  document.querySelectorAll("button[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.dataset.confirm)) { event.preventDefault(); }
    });
  });
  /* Flask-Admin's "Avec la sélection" menu of the standard lists. */
  document.querySelectorAll("[data-model-action]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      if (window.modelActions) { window.modelActions.execute(link.dataset.modelAction); }
    });
  });
})();
