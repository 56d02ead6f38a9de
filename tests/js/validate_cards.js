#!/usr/bin/env node
// Validates Microsoft Teams Workflows envelopes that carry Adaptive Cards.
//
//   node tests/js/validate_cards.js envelope.json [more.json ...]
//   node tests/js/validate_cards.js < envelope.json
//
// Each input is one envelope or a JSON array of envelopes:
//   {"type":"message","summary":"...","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
//                                                   "contentUrl":null,"content":{...AdaptiveCard 1.5...}}]}
// `summary` (optional, a string) is the activity's summary, the text a client may preview the message by.
// Each card is parsed with the `adaptivecards` library (the renderer Teams builds on) targeting
// version 1.5. It fails (exit 1) on any parse or validation event, on an element, action or
// property the library does not know, and on any card version other than "1.5".
// Exit 2: unreadable input or a missing library ("run npm ci").
"use strict";

const fs = require("fs");

let AC;
try {
  // The package's ES-module build ("main") cannot be loaded by Node as shipped; its UMD bundle can,
  // and it needs no DOM to parse and validate.
  AC = require("adaptivecards/dist/adaptivecards.js");
} catch (err) {
  process.stderr.write(`cannot load the adaptivecards package (${err.message}): run npm ci\n`);
  process.exit(2);
}

const CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive";
const CARD_VERSION = "1.5";
const CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json";
const ENVELOPE_KEYS = new Set(["type", "summary", "attachments"]);
const ATTACHMENT_KEYS = new Set(["contentType", "contentUrl", "content"]);
// Keys of the card root that are not card properties: the schema URL and the Teams extension.
const ROOT_EXTRA_KEYS = new Set(["$schema", "msteams"]);
const MSTEAMS_KEYS = new Set(["width", "entities"]);

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function unknownKeys(source, allowed) {
  return Object.keys(source).filter((key) => !allowed.has(key));
}

function schemaNames(obj) {
  const names = new Set();
  const schema = obj.getSchema();
  for (let i = 0; i < schema.getCount(); i++) {
    const prop = schema.getItemAt(i);
    if (prop.isSerializationEnabled) names.add(prop.name);
  }
  return names;
}

// Pairs each JSON object of the card with the object the library parsed from it, and reports
// every key the library did not take: the library itself silently ignores unknown properties.
function walk(source, obj, path, errors, extraKeys = new Set()) {
  if (!isObject(source)) {
    errors.push(`${path}: expected an object`);
    return;
  }
  const allowed = new Set([...schemaNames(obj), ...extraKeys]);
  const children = [];

  for (let i = 0; i < obj.getSchema().getCount(); i++) {
    const prop = obj.getSchema().getItemAt(i);
    if (!prop.isSerializationEnabled || !(prop.name in source)) continue;
    const value = obj.getValue(prop);
    if (value instanceof AC.SerializableObject) {
      children.push([source[prop.name], value, `${path}.${prop.name}`]);
    } else if (Array.isArray(value) && value.some((v) => v instanceof AC.SerializableObject)) {
      children.push(...pairs(source[prop.name], value, `${path}.${prop.name}`, errors));
    }
  }
  const collection = itemsCollectionName(obj);
  if (collection) {
    allowed.add(collection);
    const items = [];
    for (let i = 0; i < obj.getItemCount(); i++) items.push(obj.getItemAt(i));
    children.push(...pairs(source[collection], items, `${path}.${collection}`, errors));
  }
  if (obj instanceof AC.RichTextBlock) {
    allowed.add("inlines");
    const inlines = [];
    for (let i = 0; i < obj.getInlineCount(); i++) inlines.push(obj.getInlineAt(i));
    children.push(...pairs(source.inlines, inlines, `${path}.inlines`, errors));
  }
  if (obj instanceof AC.ShowCardAction) {
    allowed.add("card");
    if (obj.card) children.push([source.card, obj.card, `${path}.card`]);
  }
  if (obj instanceof AC.CardObject) allowed.add("fallback"); // read by the parser, outside the schema
  if (typeof obj.getActionCount === "function" && typeof obj.getActionAt === "function") {
    allowed.add("actions");
    const actions = [];
    for (let i = 0; i < obj.getActionCount(); i++) actions.push(obj.getActionAt(i));
    children.push(...pairs(source.actions, actions, `${path}.actions`, errors));
  }
  for (const key of unknownKeys(source, allowed)) {
    errors.push(`${path}: unknown property "${key}" on ${source.type || "object"}`);
  }
  for (const [childSource, childObj, childPath] of children) walk(childSource, childObj, childPath, errors);
}

// The JSON key under which a container keeps the children it exposes through getItemAt().
function itemsCollectionName(obj) {
  if (obj instanceof AC.ColumnSet) return "columns";
  if (obj instanceof AC.Table) return "rows";
  if (obj instanceof AC.TableRow) return "cells";
  if (typeof obj.getItemsCollectionPropertyName === "function") return obj.getItemsCollectionPropertyName();
  return undefined;
}

function pairs(sources, objs, path, errors) {
  if (sources === undefined) return [];
  if (!Array.isArray(sources)) {
    errors.push(`${path}: expected an array`);
    return [];
  }
  if (sources.length > objs.length) {
    // An item the library dropped: its parse event is already reported.
    errors.push(`${path}: ${sources.length} items given, ${objs.length} understood`);
    return [];
  }
  // More parsed than given happens only where the library pads (table cells up to the column count).
  return sources.map((source, i) => [source, objs[i], `${path}[${i}]`]);
}

function validateCard(card, where) {
  const errors = [];
  if (!isObject(card)) return [`${where}: the card is not an object`];
  if (card.type !== "AdaptiveCard") errors.push(`${where}: type is ${JSON.stringify(card.type)}, not "AdaptiveCard"`);
  if (card.version !== CARD_VERSION) errors.push(`${where}: version is ${JSON.stringify(card.version)}, not "${CARD_VERSION}"`);
  if ("$schema" in card && card.$schema !== CARD_SCHEMA) errors.push(`${where}: unexpected $schema ${JSON.stringify(card.$schema)}`);
  if ("msteams" in card) {
    if (!isObject(card.msteams)) errors.push(`${where}.msteams: expected an object`);
    else for (const key of unknownKeys(card.msteams, MSTEAMS_KEYS)) errors.push(`${where}.msteams: unknown property "${key}"`);
  }

  const context = new AC.SerializationContext(AC.Versions.v1_5);
  const parsed = new AC.AdaptiveCard();
  parsed.parse(card, context);
  for (let i = 0; i < context.eventCount; i++) {
    const event = context.getEventAt(i);
    errors.push(`${where}: ${AC.ValidationEvent[event.event]}: ${event.message}`);
  }
  const results = parsed.validateProperties();
  for (const event of results.validationEvents) {
    errors.push(`${where}: ${AC.ValidationEvent[event.event]}: ${event.message}`);
  }
  walk(card, parsed, where, errors, ROOT_EXTRA_KEYS);
  return errors;
}

function validateEnvelope(envelope, where) {
  if (!isObject(envelope)) return [`${where}: the envelope is not an object`];
  const errors = unknownKeys(envelope, ENVELOPE_KEYS).map((key) => `${where}: unknown envelope property "${key}"`);
  if (envelope.type !== "message") errors.push(`${where}: type is ${JSON.stringify(envelope.type)}, not "message"`);
  if ("summary" in envelope && typeof envelope.summary !== "string") errors.push(`${where}: summary is not a string`);
  if (!Array.isArray(envelope.attachments) || envelope.attachments.length === 0) {
    errors.push(`${where}: attachments must be a non-empty array`);
    return errors;
  }
  envelope.attachments.forEach((attachment, i) => {
    const at = `${where}.attachments[${i}]`;
    if (!isObject(attachment)) {
      errors.push(`${at}: not an object`);
      return;
    }
    errors.push(...unknownKeys(attachment, ATTACHMENT_KEYS).map((key) => `${at}: unknown property "${key}"`));
    if (attachment.contentType !== CARD_CONTENT_TYPE) errors.push(`${at}: contentType is ${JSON.stringify(attachment.contentType)}`);
    if (attachment.contentUrl !== undefined && attachment.contentUrl !== null) errors.push(`${at}: contentUrl must be null`);
    errors.push(...validateCard(attachment.content, `${at}.content`));
  });
  return errors;
}

function readInputs(args) {
  if (args.length === 0) return [["<stdin>", fs.readFileSync(0, "utf8")]];
  return args.map((file) => [file, fs.readFileSync(file, "utf8")]);
}

function main() {
  let inputs;
  try {
    inputs = readInputs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`cannot read input: ${err.message}\n`);
    return 2;
  }
  let failures = 0;
  let cards = 0;
  for (const [name, text] of inputs) {
    let doc;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      process.stderr.write(`${name}: not JSON: ${err.message}\n`);
      failures++;
      continue;
    }
    const envelopes = Array.isArray(doc) ? doc : [doc];
    envelopes.forEach((envelope, i) => {
      const where = Array.isArray(doc) ? `${name}[${i}]` : name;
      const errors = validateEnvelope(envelope, where);
      cards++;
      if (errors.length) {
        failures++;
        for (const error of errors) process.stderr.write(`${error}\n`);
      }
    });
  }
  process.stdout.write(`${cards - failures} of ${cards} envelope(s) valid\n`);
  return failures ? 1 : 0;
}

process.exitCode = main();
