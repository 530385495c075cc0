-- Stored templates (src/templates/, docs/templates.md). One row per app and key with its latest
-- version, and every version ever saved. Versions are immutable and never deleted: a queued
-- notification names (key, version) and renders exactly that version when it is sent, whatever
-- happened to the key since. DELETE sets deleted_at (the key no longer resolves without a
-- version number); a later PUT revives the key with the next number, never reusing one.
CREATE TABLE templates (
  app_id          text NOT NULL,
  key             text NOT NULL,
  latest_version  integer NOT NULL,              -- 0 only inside the transaction creating the key
  deleted_at      timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, key)
);

CREATE TABLE template_versions (
  app_id      text NOT NULL,
  key         text NOT NULL,
  version     integer NOT NULL CHECK (version > 0), -- 0 is a built-in template's, kept in code
  definition  jsonb NOT NULL,                       -- {description?, variables, defaultLocale, locales}
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, key, version),
  FOREIGN KEY (app_id, key) REFERENCES templates (app_id, key)
);

-- The locale a template falls back to when the recipient's is missing (copied into each template
-- version as its defaultLocale unless the template names its own).
ALTER TABLE apps ADD COLUMN default_locale text NOT NULL DEFAULT 'en';

-- A reminder's template: {key, version, data}, pinned and checked when the reminder is saved.
ALTER TABLE reminders ADD COLUMN template jsonb;
