/* The "Actions" menu of a list row (templates/admin/users/list.html): a disclosure button over a list of
   links and buttons, as the name menu of static/menu.js (same keys: Enter/Space/ArrowDown open it on its
   first entry, ArrowUp on its last, arrows/Home/End move, Escape closes it and gives focus back, leaving it
   closes it). One set of listeners for the whole table, not one per row. No inline script (CSP).
   The list is placed with fixed coordinates when it opens (and follows its button when the page scrolls): the
   table's scrolling box (.table-responsive) would otherwise clip the menus of its last rows. */
(function () {
  "use strict";
  var openRoot = null;

  function parts(root) {
    var button = root.querySelector("[data-row-menu-button]");
    return { button: button, list: document.getElementById(button.getAttribute("aria-controls")) };
  }
  function items(root) { return Array.prototype.slice.call(root.querySelectorAll(".row-menu-item")); }

  function place(button, list) {
    var box = button.getBoundingClientRect();
    list.style.position = "fixed";
    list.style.top = box.bottom + 2 + "px";
    list.style.left = "auto";
    list.style.right = Math.max(0, document.documentElement.clientWidth - box.right) + "px";
    var height = list.getBoundingClientRect().height;
    if (box.bottom + 2 + height > window.innerHeight && box.top - height - 2 > 0) {
      list.style.top = box.top - height - 2 + "px";  /* no room below: open upwards */
    }
  }

  function close(refocus) {
    if (!openRoot) { return; }
    var p = parts(openRoot);
    p.button.setAttribute("aria-expanded", "false");
    p.list.hidden = true;
    openRoot = null;
    if (refocus) { p.button.focus(); }
  }

  function open(root, focusIndex) {
    if (openRoot && openRoot !== root) { close(false); }
    var p = parts(root);
    p.button.setAttribute("aria-expanded", "true");
    p.list.hidden = false;
    place(p.button, p.list);
    openRoot = root;
    if (focusIndex !== undefined) {
      /* Without preventScroll, focusing an entry the viewport cuts scrolls the page, and a scroll closes the menu. */
      var all = items(root);
      all[(focusIndex + all.length) % all.length].focus({ preventScroll: true });
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-row-menu-button]") : null;
    if (button) {
      var root = button.closest("[data-row-menu]");
      /* A click from the keyboard (Enter, Space: event.detail is 0) moves focus into the menu. */
      if (openRoot === root) { close(false); } else { open(root, event.detail === 0 ? 0 : undefined); }
      return;
    }
    if (openRoot && !openRoot.contains(event.target)) { close(false); }
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!target.closest) { return; }
    var root = target.closest("[data-row-menu]");
    if (!root) { return; }
    if (target.hasAttribute("data-row-menu-button")) {
      if (event.key === "ArrowDown") { event.preventDefault(); open(root, 0); }
      if (event.key === "ArrowUp") { event.preventDefault(); open(root, -1); }
      if (event.key === "Escape" && openRoot === root) { event.preventDefault(); close(true); }
      return;
    }
    if (event.key === "Escape" && openRoot === root) {
      event.preventDefault();
      close(true);
      return;
    }
    var all = items(root);
    var index = all.indexOf(document.activeElement);
    if (index < 0) { return; }
    var moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: all.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      all[(moves[event.key] + all.length) % all.length].focus({ preventScroll: true });
    }
  });

  /* Leaving the menu (Tab past its last entry) closes it. */
  document.addEventListener("focusout", function (event) {
    if (openRoot && openRoot.contains(event.target) && event.relatedTarget && !openRoot.contains(event.relatedTarget)) {
      close(false);
    }
  });
  /* Fixed coordinates go stale when the page or the table scrolls: the menu follows its button while the button
     is in view (a scroll that lands just as the menu opens must not close it), and closes once it is not. */
  window.addEventListener("scroll", function () {
    if (!openRoot) { return; }
    var p = parts(openRoot);
    var box = p.button.getBoundingClientRect();
    if (box.bottom < 0 || box.top > window.innerHeight) { close(false); } else { place(p.button, p.list); }
  }, true);
  window.addEventListener("resize", function () { close(false); });
})();
