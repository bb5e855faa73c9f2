/* Behaviour Flask-Admin wrote as inline handlers, bound here so the CSP can forbid inline scripts. */
(function () {
  "use strict";
  /* Flask-Admin's dropdown toggles, pagers and tabs are links to "javascript:void(0)". Its dropdown script
     stops the click before Bootstrap cancels it, so the browser follows the link and the CSP refuses it,
     with an error in the console. Cancelled here, first (capture phase): the dropdowns still open. */
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[href^='javascript:']");
    if (link) { event.preventDefault(); }
  }, true);
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
