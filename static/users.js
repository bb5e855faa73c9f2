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

  // Counts as the pages write them: French thousands separated by a narrow no-break space.
  function frenchNumber(n) { return n.toLocaleString("fr-FR").replace(/\s/g, "\u202f"); }

  function fetchJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { results: [] }; });
  }

  /* A type-ahead (ARIA combobox with a listbox popup): suggestions from a lookup URL, at most 20, with
     "N autres résultats : précisez" below them and a live region that says what came back. Arrow keys move,
     Enter chooses, Escape closes. A lookup's `exact` (a full SIREN/SIRET, an exact name) counts as a choice. */
  var pickerCount = 0;
  function Picker(input, options) {
    var self = this;
    pickerCount += 1;
    this.input = input;
    this.options = options;
    this.items = [];
    this.active = -1;
    this.chosen = null;
    this.sequence = 0;  // answers may come back out of order: only the latest is shown
    // The popup holds the listbox and, under it, "N autres résultats : précisez" or "Aucun … ne correspond".
    this.list = document.getElementById(input.getAttribute("aria-controls") || "") || document.createElement("ul");
    this.list.id = this.list.id || "picker-" + pickerCount + "-list";
    this.list.className = "picker-list";
    this.list.setAttribute("role", "listbox");
    this.popup = this.list.parentNode && this.list.parentNode.classList.contains("picker-popup") ? this.list.parentNode : null;
    if (!this.popup) {
      this.popup = document.createElement("div");
      this.popup.className = "picker-popup";
      input.parentNode.insertBefore(this.popup, input.nextSibling);
      this.popup.appendChild(this.list);
      // Not the field's label: a second element labelled "Entreprise" would make the field's label ambiguous.
      this.list.setAttribute("aria-label", "Suggestions");
    }
    input.parentNode.classList.add("picker");
    this.more = this.popup.querySelector(".picker-more") || this.popup.appendChild(document.createElement("p"));
    this.more.className = "picker-more small";
    this.status = document.createElement("p");
    this.status.className = "sr-only";
    this.popup.parentNode.insertBefore(this.status, this.popup.nextSibling);
    this.status.setAttribute("role", "status");
    this.status.setAttribute("aria-live", "polite");
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", this.list.id);
    input.setAttribute("autocomplete", "off");
    this.search = debounce(function () { self.fetch(); }, 200);  // one timer per field
    this.close();
    input.addEventListener("input", function () {
      self.chosen = null;
      if (self.options.onType) { self.options.onType(input.value); }
      self.search();
    });
    input.addEventListener("keydown", function (event) { self.key(event); });
    input.addEventListener("focus", function () { if (self.options.openOnFocus && !self.chosen) { self.fetch(); } });
    input.addEventListener("blur", function () { setTimeout(function () { self.close(); }, 150); });
    this.popup.addEventListener("mousedown", function (event) { event.preventDefault(); });  // keep the focus in the field
    this.list.addEventListener("click", function (event) {
      var option = event.target.closest("[role='option']");
      if (option) { self.pick(self.items[parseInt(option.dataset.index, 10)], false); }
    });
  }
  Picker.prototype.fetch = function () {
    var self = this, q = this.input.value.trim(), ticket = ++this.sequence;
    if (this.input.disabled || q.length < (this.options.minChars || 0)) { this.close(); return; }
    fetchJson(this.options.url(q)).then(function (data) {
      if (ticket !== self.sequence) { return; }
      self.show(data);
      var accepted = data.exact && (data.exact_by !== "name" || !self.options.namesAreSearches);
      if (accepted && !self.chosen && self.input.value.trim() === q) { self.pick(data.exact, true, data); }
    });
  };
  Picker.prototype.show = function (data) {
    var self = this;
    this.items = data.results || [];
    this.active = -1;
    this.list.textContent = "";
    this.items.forEach(function (item, index) {
      var li = document.createElement("li");
      li.id = self.list.id + "-" + index;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.className = "picker-option";
      li.dataset.index = index;
      var main = document.createElement("span");
      main.className = "picker-main";
      main.textContent = item.name || item.label;
      li.appendChild(main);
      if (item.siren) {
        var id = document.createElement("span");
        id.className = "picker-id";
        id.textContent = " SIREN " + item.siren;
        li.appendChild(id);
      }
      if (item.detail) {
        var detail = document.createElement("span");
        detail.className = "picker-detail";
        detail.textContent = item.detail;
        li.appendChild(document.createTextNode(" "));  // read as two phrases, shown on two lines
        li.appendChild(detail);
      }
      self.list.appendChild(li);
    });
    this.more.textContent = this.items.length ? (data.more_text || "") : (data.summary || this.options.none);
    this.more.hidden = !this.more.textContent;
    this.status.textContent = data.summary || "";
    this.list.hidden = !this.items.length;
    this.popup.hidden = this.list.hidden && this.more.hidden;
    this.input.setAttribute("aria-expanded", this.items.length ? "true" : "false");
    this.input.removeAttribute("aria-activedescendant");
  };
  Picker.prototype.close = function () {
    this.popup.hidden = true;
    this.active = -1;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  };
  Picker.prototype.move = function (step) {
    if (this.popup.hidden || !this.items.length) { this.fetch(); return; }
    var options = this.list.querySelectorAll("[role='option']");
    if (this.active >= 0) { options[this.active].setAttribute("aria-selected", "false"); }
    this.active = (this.active + step + this.items.length) % this.items.length;
    var option = options[this.active];
    option.setAttribute("aria-selected", "true");
    option.scrollIntoView({ block: "nearest" });
    this.input.setAttribute("aria-activedescendant", option.id);
  };
  Picker.prototype.key = function (event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      this.move(event.key === "ArrowDown" ? 1 : -1);
    } else if (event.key === "Enter") {
      if (!this.popup.hidden && this.active >= 0) {
        event.preventDefault();
        this.pick(this.items[this.active], false);
      } else if (!this.options.enterSubmits) {
        event.preventDefault();  // inside the user form, Enter would save it half-filled
        if (this.options.onEnter) { this.options.onEnter(); }
      }
    } else if (event.key === "Escape") {
      if (!this.popup.hidden) { event.preventDefault(); this.close(); }
    }
  };
  Picker.prototype.pick = function (item, automatic, data) {
    this.chosen = item;
    if (!automatic) {
      this.input.value = item.label;
      this.close();
    }
    this.status.textContent = (automatic ? "Reconnu : " : "Choisi : ") + item.label;
    if (this.options.onPick) { this.options.onPick(item, automatic, data || {}); }
  };
  Picker.prototype.reset = function (disabled) {
    this.sequence += 1;
    this.chosen = null;
    this.input.value = "";
    this.input.disabled = disabled;
    this.items = [];
    this.close();
  };

  /* The list's company and establishment filters: the field shows "Name – SIREN", the URL keeps the SIREN
     (or SIRET) in a hidden field that takes over the field's name. */
  document.querySelectorAll("input[data-lookup]").forEach(function (input) {
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = input.name;
    hidden.value = input.value;
    input.removeAttribute("name");
    input.removeAttribute("list");
    input.parentNode.insertBefore(hidden, input);
    var picker = new Picker(input, {
      url: function (q) { return input.dataset.lookup + "?q=" + encodeURIComponent(q); },
      minChars: 2,
      enterSubmits: true,
      namesAreSearches: true,  // a filter on "Cabinet" keeps every "Cabinet …": only a SIREN or SIRET is a choice
      none: "Aucun résultat",
      onType: function (typed) { hidden.value = typed; },
      onPick: function (item) { hidden.value = item.value; }
    });
    var heading = document.getElementById("filter-heading");
    if (input.id === "f-entreprise" && heading && heading.dataset.companyLabel) {
      input.value = heading.dataset.companyLabel;
      picker.chosen = { label: heading.dataset.companyLabel, value: hidden.value };
    }
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

    var french = frenchNumber;
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

  /* The grant editor: a company (type-ahead), then one of its establishments (type-ahead within it), "+" adds a row. */
  var editor = document.getElementById("grant-editor");
  if (!editor) { return; }
  var rowsBox = document.getElementById("grant-rows");
  var template = document.getElementById("grant-row-template");
  var companyInput = document.getElementById("grant-company");
  var companyChosen = document.getElementById("grant-company-chosen");
  var establishmentInput = document.getElementById("grant-establishment");
  var establishmentHint = document.getElementById("grant-establishment-hint");
  var addButton = document.getElementById("grant-add");
  var message = document.getElementById("grant-message");
  var companyId = editor.dataset.company || "";  // set when the viewer administers one company only

  var establishments = new Picker(establishmentInput, {
    url: function (q) {
      return editor.dataset.establishments + "?company=" + encodeURIComponent(companyId) + "&q=" + encodeURIComponent(q);
    },
    openOnFocus: true,
    none: "Aucun établissement ne correspond",
    onEnter: function () { if (establishments.chosen) { addButton.click(); } },
    onPick: function (item) {
      establishmentHint.textContent = "Établissement choisi : " + item.label + ". Ajoutez-le avec « + » (ou Entrée).";
    }
  });

  var chooseCompany = function (item, automatic, data) {
    companyId = String(item.id);
    companyChosen.textContent = "Entreprise choisie : " + item.name + " (SIREN " + item.siren + ")" + (item.detail ? " – " + item.detail : "");
    establishments.reset(false);
    establishmentHint.textContent = "Tapez une partie du nom, le SIRET, le code postal ou la ville parmi " +
      (item.establishments === 1 ? "l'établissement" : "les " + frenchNumber(item.establishments || 0) + " établissements") +
      " de " + item.name + ".";
    if (data && data.exact_establishment) {  // a SIRET typed in the company field chooses that establishment too
      establishmentInput.value = data.exact_establishment.label;
      establishments.pick(data.exact_establishment, true);
    }
    if (!automatic) { establishmentInput.focus(); }
  };
  if (companyInput) {
    new Picker(companyInput, {
      url: function (q) { return editor.dataset.companies + "?q=" + encodeURIComponent(q); },
      minChars: 1,
      none: "Aucune entreprise ne correspond",
      onType: function () {
        if (!companyId) { return; }
        companyId = "";
        companyChosen.textContent = "Tapez une partie du nom, ou le SIREN complet.";
        establishments.reset(true);
        establishmentHint.textContent = "Choisissez d'abord une entreprise.";
      },
      onPick: chooseCompany
    });
  }

  var lockManager = function (row) {
    var manager = row.querySelector("input[data-habilitation='manager']");
    row.querySelectorAll("input[data-habilitation]").forEach(function (box) {
      // A box the viewer may not toggle (data-locked: the permission boundary) stays as the server drew it.
      if (box === manager || box.hasAttribute("data-locked")) { return; }
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
    var chosen = establishments.chosen;
    if (!chosen) {
      message.textContent = companyId ? "Choisissez d'abord un établissement dans la liste." : "Choisissez d'abord une entreprise, puis un de ses établissements.";
      (companyId || !companyInput ? establishmentInput : companyInput).focus();
      return;
    }
    var id = String(chosen.id);
    if (rowsBox.querySelector(".grant-row[data-establishment='" + id + "']")) {
      message.textContent = "Cet établissement est déjà dans la liste.";
      return;
    }
    var html = template.innerHTML.split("__ID__").join(id).split("__COMPANY__").join(String(chosen.company_id));
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var row = holder.firstChild;
    row.querySelector(".establishment-label").textContent = chosen.label;
    rowsBox.appendChild(row);
    if (!rowsBox.querySelector("input[name='grants-primary']:checked")) {
      row.querySelector("input[name='grants-primary']").checked = true;  // the first one added is primary
    }
    wireRow(row);
    establishments.reset(false);
    message.textContent = "Établissement ajouté : " + chosen.label + ". Cochez les accès puis enregistrez.";
  });
})();
