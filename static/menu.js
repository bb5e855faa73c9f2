/* The name menu of the top bar (templates/_user_menu.html): a disclosure button over a list of links.
   Loaded from a file, never inline: the CSP allows scripts from this origin only. No jQuery here, so
   the public pages (which load no Bootstrap script) get the same menu as the back office. */
(function () {
  "use strict";
  document.querySelectorAll("[data-user-menu]").forEach(function (root) {
    var button = root.querySelector("[data-user-menu-button]");
    var list = document.getElementById(button.getAttribute("aria-controls"));
    if (!list) { return; }

    function items() { return Array.prototype.slice.call(list.querySelectorAll(".user-menu-item")); }
    function isOpen() { return button.getAttribute("aria-expanded") === "true"; }
    function open(focusIndex) {
      button.setAttribute("aria-expanded", "true");
      list.hidden = false;
      if (focusIndex !== undefined) {
        var all = items();
        all[(focusIndex + all.length) % all.length].focus();
      }
    }
    function close(refocus) {
      if (!isOpen()) { return; }
      button.setAttribute("aria-expanded", "false");
      list.hidden = true;
      if (refocus) { button.focus(); }
    }

    /* A click from the keyboard (Enter, Space: event.detail is 0) moves focus into the menu; a mouse click does not. */
    button.addEventListener("click", function (event) {
      if (isOpen()) { close(false); } else { open(event.detail === 0 ? 0 : undefined); }
    });
    button.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") { event.preventDefault(); open(0); }
      if (event.key === "ArrowUp") { event.preventDefault(); open(-1); }
    });
    /* Inside the menu: Escape closes it and gives focus back to the button; arrows, Home and End move. */
    root.addEventListener("keydown", function (event) {
      if (event.target === button && event.key !== "Escape") { return; }  /* the button's own keys, above */
      if (event.key === "Escape" && isOpen()) {
        event.preventDefault();
        close(true);
        return;
      }
      var all = items();
      var index = all.indexOf(document.activeElement);
      if (index < 0) { return; }
      var moves = {ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: all.length - 1};
      if (event.key in moves) {
        event.preventDefault();
        all[(moves[event.key] + all.length) % all.length].focus();
      }
    });
    /* Leaving the menu (Tab past its last entry, a click elsewhere) closes it. */
    root.addEventListener("focusout", function (event) {
      if (event.relatedTarget && !root.contains(event.relatedTarget)) { close(false); }
    });
    document.addEventListener("click", function (event) {
      if (!root.contains(event.target)) { close(false); }
    });
  });
})();
