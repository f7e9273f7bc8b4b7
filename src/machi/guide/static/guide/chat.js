// The FAQ assistant on every portal page: without JavaScript the form opens /guide/ with the
// answer; with it, the answer appears under the form (announced by screen readers) and the
// resident can say whether it helped. Text is set with textContent only: answers are data.
(function () {
  "use strict";
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function setup(form) {
    var box = form.querySelector(".guide-chat__answer");
    var input = form.querySelector("input[name=q]");
    if (!box || !input || !window.fetch) return;
    var msg = box.dataset;
    form.addEventListener("submit", function (event) {
      var question = input.value.trim();
      if (!question) return;
      event.preventDefault();
      box.hidden = false;
      box.replaceChildren(el("p", "…"));
      fetch(form.dataset.api, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify({ question: question, language: document.documentElement.lang === "en" ? "en" : "" })
      }).then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.json();
      }).then(function (data) { show(data); })
        .catch(function () { box.replaceChildren(el("p", msg.msgError, "field-error")); });
    });
    function show(data) {
      var parts = [];
      if (data.shelters_open && data.shelters_open.length) {
        var call = el("div", null, "callout callout--emergency");
        call.appendChild(el("p", msg.msgShelters));
        var list = el("ul");
        data.shelters_open.slice(0, 5).forEach(function (s) { list.appendChild(el("li", s.name + "（" + s.address + "）")); });
        call.appendChild(list);
        parts.push(call);
      }
      if (!data.answers.length) {
        parts.push(el("p", msg.msgNone));
      } else {
        var best = data.answers[0];
        parts.push(el("h3", data.low_confidence ? msg.msgMaybe : msg.msgAnswer, "guide-chat__label"));
        parts.push(el("p", best.question, "guide-chat__question"));
        parts.push(el("p", best.answer));
        if (best.url) { var more = el("p"); var a = el("a", msg.msgMore); a.href = best.url; a.rel = "noopener"; more.appendChild(a); parts.push(more); }
        if (data.answers.length > 1) {
          parts.push(el("h3", msg.msgOthers, "guide-chat__label"));
          var others = el("ul", null, "guide-alternatives");
          data.answers.slice(1).forEach(function (e) {
            var item = el("li"); var details = el("details");
            details.appendChild(el("summary", e.question)); details.appendChild(el("p", e.answer));
            item.appendChild(details); others.appendChild(item);
          });
          parts.push(others);
        }
      }
      var row = el("p", null, "guide-feedback");
      [[true, msg.msgSolved], [false, msg.msgUnsolved]].forEach(function (pair) {
        var button = el("button", pair[1], "button button--secondary");
        button.type = "button";
        button.addEventListener("click", function () {
          fetch(form.dataset.feedback, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ question_id: data.question_id, token: data.token, resolved: pair[0] })
          }).finally(function () { row.replaceChildren(el("span", msg.msgThanks)); });
        });
        row.appendChild(button);
      });
      parts.push(row);
      box.replaceChildren.apply(box, parts);
    }
  }
  document.querySelectorAll("form.guide-chat__form").forEach(setup);
})();
