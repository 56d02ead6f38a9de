// outbox/index.html's script: shows one message alone (index.html?only=<path>, or a bot thread's folder; with
// &lang=ja or &lang=en, only that language's part of a bilingual email), fits each email's frame to its content,
// and draws each Teams card with the Adaptive Cards renderer when the page loaded it. Without it (or without
// script) the page stays as written: every message, cards drawn approximately.
"use strict";

const PARAMS = new URLSearchParams(location.search);

// Fonts, colours and spacing close to Teams' light theme.
const TEAMS_COLOURS = {
  default: { default: "#242424", subtle: "#616161" },
  dark: { default: "#242424", subtle: "#424242" },
  light: { default: "#FFFFFF", subtle: "#F5F5F5" },
  accent: { default: "#4F52B2", subtle: "#5B5FC7" },
  good: { default: "#0E700E", subtle: "#107C10" },
  warning: { default: "#BC4B09", subtle: "#CA5010" },
  attention: { default: "#C4314B", subtle: "#D13438" },
};

function containerStyle(backgroundColor) {
  return { backgroundColor, foregroundColors: TEAMS_COLOURS };
}

const TEAMS_HOST_CONFIG = {
  fontFamily: "'Segoe UI', 'Hiragino Sans', 'Yu Gothic UI', Meiryo, system-ui, sans-serif",
  supportsInteractivity: true,
  spacing: { small: 4, default: 8, medium: 16, large: 20, extraLarge: 24, padding: 16 },
  separator: { lineThickness: 1, lineColor: "#E0E0E0" },
  fontSizes: { small: 12, default: 14, medium: 16, large: 18, extraLarge: 24 },
  fontWeights: { lighter: 300, default: 400, bolder: 600 },
  containerStyles: {
    default: containerStyle("#FFFFFF"),
    emphasis: containerStyle("#F5F5F5"),
    accent: containerStyle("#EBF3FC"),
    good: containerStyle("#F1FAF1"),
    warning: containerStyle("#FFF9F5"),
    attention: containerStyle("#FDF3F4"),
  },
  actions: {
    maxActions: 6, spacing: "default", buttonSpacing: 8, actionsOrientation: "horizontal",
    actionAlignment: "left", showCard: { actionMode: "inline", inlineTopMargin: 8 },
  },
  factSet: {
    title: { weight: "bolder", wrap: true, maxWidth: 160 },
    value: { wrap: true },
    spacing: 12,
  },
};

function escapeHtml(text) {
  const entities = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  return text.replace(/[&<>"']/g, (c) => entities[c]);
}

// What a Teams TextBlock makes of markdown, as far as the relay's cards use it: **bold**, backslash escapes
// and line breaks. Everything else is shown as text.
function teamsMarkdown(text) {
  const literals = [];
  const kept = text.replace(/\\([\\`*_{}\[\]()#+\-.!<>~|&])/g, (_, c) => `\uE000${literals.push(c) - 1}\uE001`);
  const shown = escapeHtml(kept).replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>").replace(/\n/g, "<br>");
  return shown.replace(/\uE000(\d+)\uE001/g, (_, i) => escapeHtml(literals[Number(i)]));
}

function openLink(action) {
  if (action instanceof AdaptiveCards.OpenUrlAction && /^https:\/\//.test(action.url || "")) {
    window.open(action.url, "_blank", "noopener,noreferrer");
  }
}

function drawCard(host, hostConfig) {
  const card = new AdaptiveCards.AdaptiveCard();
  card.hostConfig = hostConfig;
  card.onExecuteAction = openLink;
  card.parse(JSON.parse(document.getElementById(host.dataset.card).textContent));
  const drawn = card.render();
  if (drawn) {
    host.replaceChildren(drawn);
    host.classList.add("rendered");
  }
}

function drawCards() {
  if (!window.AdaptiveCards) return;
  AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {
    result.outputHtml = teamsMarkdown(text);
    result.didProcess = true;
  };
  const hostConfig = new AdaptiveCards.HostConfig(TEAMS_HOST_CONFIG);
  for (const host of document.querySelectorAll("[data-card]")) {
    try {
      drawCard(host, hostConfig);
    } catch (err) {
      const note = document.createElement("p");
      note.className = "notice";
      note.textContent = `The Adaptive Cards renderer could not draw this card (${err}); shown approximately.`;
      host.before(note);
    }
  }
}

// A message, or a bot thread's folder (the whole thread); a message of a thread is shown as its post alone.
function showOnly() {
  const only = PARAMS.get("only")?.replace(/\/+$/, "");
  if (!only) return;
  document.body.classList.add("only");
  const target = [...document.querySelectorAll("main [data-path]")].find((el) => el.dataset.path === only);
  const section = target?.closest("section.msg");
  document.querySelectorAll("section.msg").forEach((s) => s !== section && s.remove());
  document.querySelectorAll("main h2").forEach((h) => h.remove());
  if (!target) {
    document.querySelector("main").textContent = `No message ${only} in this outbox.`;
  } else if (target !== section) {
    section.querySelectorAll(".entry, .replies, .outline").forEach((el) => el !== target && el.remove());
    target.classList.remove("reply");
  }
}

// In a one-message view with &lang=, hides the email's outermost parts marked with another language.
function keepLanguage(doc) {
  const lang = PARAMS.get("only") && PARAMS.get("lang");
  if (!lang || !doc.body) return;
  for (const part of doc.body.querySelectorAll("[lang]")) {
    const outermost = !part.parentElement.closest("body [lang]");
    if (outermost && part.lang !== lang) part.style.display = "none";
  }
}

function fitFrame(frame) {
  const doc = frame.contentDocument;
  if (!doc || !doc.documentElement) return;
  keepLanguage(doc);
  frame.style.height = `${doc.documentElement.scrollHeight + 4}px`;
}

function fitFrames() {
  for (const frame of document.querySelectorAll("iframe.mail")) {
    frame.addEventListener("load", () => fitFrame(frame));
    fitFrame(frame);
  }
}

showOnly();
drawCards();
fitFrames();
window.addEventListener("load", () => {
  document.querySelectorAll("iframe.mail").forEach(fitFrame);
  // How tall the page is, for a screenshot of it (docs/images/capture.py reads it).
  document.documentElement.dataset.pageHeight = String(Math.ceil(document.documentElement.scrollHeight));
});
