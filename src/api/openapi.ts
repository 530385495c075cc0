interface Parameter {
  in?: string;
  required?: boolean;
  schema?: { default?: unknown };
}

/**
 * A query parameter with a default may be left out: herald fills the default in (useDefaults).
 * TypeBox lists such properties as required, and @fastify/swagger copies that into the document,
 * which would make every generated client pass `limit`, `offset`... on every call. The document
 * says what the API accepts; validation is unchanged.
 */
export function queryDefaultsOptional<D extends { paths?: object }>(doc: D): D {
  for (const item of Object.values(doc.paths ?? {}) as Array<Record<string, unknown> | undefined>) {
    for (const operation of Object.values(item ?? {}) as Array<{ parameters?: unknown } | undefined>) {
      if (!Array.isArray(operation?.parameters)) continue;
      for (const p of operation.parameters as Parameter[]) {
        if (p.in === 'query' && p.required && p.schema?.default !== undefined) p.required = false;
      }
    }
  }
  return doc;
}
