-- A binding's settings (extension@0.3.0): the values it gives the settings its plugin's
-- manifest declares, a JSON object, checked against the manifest when bound or changed. They
-- are versioned with the binding: a change of version or settings keeps the revision it
-- replaces in previous_version and previous_settings, and a rollback swaps them back.
-- (Keep the other engine's 0019 in step; the schema_parity test compares them.)
ALTER TABLE plugin_bindings ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE plugin_bindings ADD COLUMN previous_settings TEXT;
