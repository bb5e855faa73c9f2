/* Mes utilisateurs: lookups, selection and confirmations of the list; the grant editor. No inline script. */
(function () {
  "use strict";

  function debounce(fn, delay) {
    var timer = null;
    return function () {
      var args = arguments, self = this;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(self, args); }, delay);
    };
  }

  function fetchJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { results: [] }; });
  }

  /* Autocomplete of the company and establishment filters: a datalist filled as one types. */
  document.querySelectorAll("input[data-lookup]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    input.addEventListener("input", debounce(function () {
      var q = input.value.trim();
      if (q.length < 2) { return; }
      fetchJson(input.dataset.lookup + "?q=" + encodeURIComponent(q)).then(function (data) {
        list.innerHTML = "";
        data.results.forEach(function (item) {
          var option = document.createElement("option");
          option.value = item.value;
          option.label = item.label;
          option.textContent = item.label;
          list.appendChild(option);
        });
      });
    }, 200));
  });

  /* Selection of rows, of the page, and of every matching user. */
  var bulkForm = document.getElementById("bulk-form");
  if (bulkForm) {
    var total = parseInt(bulkForm.dataset.total || "0", 10);
    var noun = bulkForm.dataset.noun || "utilisateur(s)";
    var allMatching = document.getElementById("all-matching");
    var selectPage = document.getElementById("select-page");
    var selectAll = document.getElementById("select-all-matching");
    var status = document.getElementById("selection-status");
    var boxes = Array.prototype.slice.call(document.querySelectorAll(".row-select"));

    // Counts as the page writes them: French thousands separated by a narrow no-break space.
    var french = function (n) { return n.toLocaleString("fr-FR").replace(/\s/g, "\u202f"); };
    var selectedCount = function () {
      return allMatching.value === "1" ? total : boxes.filter(function (b) { return b.checked; }).length;
    };
    var refresh = function () {
      var checked = boxes.filter(function (b) { return b.checked; }).length;
      if (checked < boxes.length) { allMatching.value = "0"; }
      var n = selectedCount();
      status.textContent = allMatching.value === "1"
        ? "Les " + french(total) + " " + noun + " correspondant aux filtres sont sélectionné(e)s."
        : (n ? french(n) + " " + noun + " sélectionné(e)s." : "");
      if (selectAll) { selectAll.hidden = !(boxes.length && checked === boxes.length && allMatching.value !== "1"); }
      if (selectPage) { selectPage.checked = boxes.length > 0 && checked === boxes.length; }
    };
    boxes.forEach(function (b) { b.addEventListener("change", refresh); });
    if (selectPage) {
      selectPage.addEventListener("change", function () {
        boxes.forEach(function (b) { b.checked = selectPage.checked; });
        refresh();
      });
    }
    if (selectAll) {
      selectAll.addEventListener("click", function () {
        allMatching.value = "1";
        refresh();
      });
    }
    bulkForm.addEventListener("submit", function (event) {
      var select = document.getElementById("bulk-action");
      var n = selectedCount();
      if (!n) {
        event.preventDefault();
        window.alert("Sélectionnez au moins une ligne.");
        return;
      }
      var label = select.options[select.selectedIndex].text;
      // An action that opens its own form ("Refuser…", the reason form) is confirmed there: ask once only.
      if (/…$/.test(label)) { return; }
      var verb = select.value === "delete" ? "Supprimer définitivement" : label;
      if (!window.confirm(verb + " : " + french(n) + " " + noun + ". Confirmer ?")) { event.preventDefault(); }
    });
    refresh();
  }

  /* The grant editor: company, then one of its establishments, "+" adds a row. */
  var editor = document.getElementById("grant-editor");
  if (!editor) { return; }
  var rowsBox = document.getElementById("grant-rows");
  var template = document.getElementById("grant-row-template");
  var companyInput = document.getElementById("grant-company");
  var companyList = document.getElementById("grant-company-list");
  var establishmentSelect = document.getElementById("grant-establishment");
  var addButton = document.getElementById("grant-add");
  var message = document.getElementById("grant-message");

  var loadEstablishments = function (companyId) {
    establishmentSelect.innerHTML = "<option value=\"\">Choisissez un établissement</option>";
    if (!companyId) { establishmentSelect.disabled = true; return; }
    fetchJson(editor.dataset.establishments + "?company=" + encodeURIComponent(companyId)).then(function (data) {
      data.results.forEach(function (item) {
        var option = document.createElement("option");
        option.value = item.id;
        option.textContent = item.label;
        establishmentSelect.appendChild(option);
      });
      establishmentSelect.disabled = false;
      establishmentSelect.focus();
    });
  };

  if (companyInput && companyInput.tagName === "SELECT") {
    companyInput.addEventListener("change", function () { loadEstablishments(companyInput.value); });
  } else if (companyInput) {
    var companyIds = {};
    companyInput.addEventListener("input", debounce(function () {
      var typed = companyInput.value.trim();
      if (companyIds[typed]) { loadEstablishments(companyIds[typed]); return; }
      if (typed.length < 2) { return; }
      fetchJson(editor.dataset.companies + "?q=" + encodeURIComponent(typed)).then(function (data) {
        companyList.innerHTML = "";
        data.results.forEach(function (item) {
          companyIds[item.label] = item.id;
          var option = document.createElement("option");
          option.value = item.label;
          companyList.appendChild(option);
        });
        if (companyIds[typed]) { loadEstablishments(companyIds[typed]); }
      });
    }, 200));
  } else {
    establishmentSelect.disabled = false;  // one company only: its establishments are already listed
  }

  var lockManager = function (row) {
    var manager = row.querySelector("input[data-habilitation='manager']");
    row.querySelectorAll("input[data-habilitation]").forEach(function (box) {
      if (box === manager) { return; }
      if (manager.checked) { box.checked = true; }
      box.disabled = manager.checked;
    });
  };
  var wireRow = function (row) {
    row.querySelector("input[data-habilitation='manager']").addEventListener("change", function () { lockManager(row); });
    row.querySelector(".grant-remove").addEventListener("click", function () {
      var wasPrimary = row.querySelector("input[name='grants-primary']").checked;
      row.remove();
      var first = rowsBox.querySelector("input[name='grants-primary']");
      if (wasPrimary && first) { first.checked = true; }
      message.textContent = "Établissement retiré (pas encore enregistré).";
    });
    lockManager(row);
  };
  rowsBox.querySelectorAll(".grant-row").forEach(wireRow);

  addButton.addEventListener("click", function () {
    var id = establishmentSelect.value;
    if (!id) { message.textContent = "Choisissez d'abord un établissement."; return; }
    if (rowsBox.querySelector(".grant-row[data-establishment='" + id + "']")) {
      message.textContent = "Cet établissement est déjà dans la liste.";
      return;
    }
    var label = establishmentSelect.options[establishmentSelect.selectedIndex].textContent;
    var html = template.innerHTML.split("__ID__").join(id);
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var row = holder.firstChild;
    row.querySelector(".establishment-label").textContent = label;
    rowsBox.appendChild(row);
    if (!rowsBox.querySelector("input[name='grants-primary']:checked")) {
      row.querySelector("input[name='grants-primary']").checked = true;  // the first one added is primary
    }
    wireRow(row);
    message.textContent = "Établissement ajouté : cochez les accès puis enregistrez.";
  });
})();
