/* Forms sent back with errors (data-focus-first-error): the first field in error is scrolled into view and
   focused, so nobody has to hunt for what was refused. A file, not an inline script: the CSP forbids those. */
(function () {
  "use strict";
  document.querySelectorAll("form[data-focus-first-error]").forEach(function (form) {
    var fields = Array.prototype.slice.call(form.elements);
    var first = fields.find(function (field) {
      if (field.type === "hidden" || field.disabled) { return false; }
      var group = field.closest(".form-group, fieldset");
      return field.getAttribute("aria-invalid") === "true" || (group && group.querySelector(".invalid-feedback"));
    });
    if (first) {
      first.scrollIntoView({block: "center"});
      first.focus({preventScroll: true});
    }
  });
})();
