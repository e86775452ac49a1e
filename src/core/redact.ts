/** Keeps secrets out of what the plugin throws and logs. */

const URL_CREDENTIALS = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]*@/gi;
const SQL_PASSWORD = /(\bPASSWORD\s+)(E?'(?:[^']|'')*')/gi;

/**
 * Returns a function that masks connection-string credentials, `PASSWORD '...'` literals in SQL,
 * and every known password (read at call time, so rotated ones are covered).
 */
export function redactor(secrets: () => Iterable<string>): (text: string) => string {
  return (text) => {
    let out = text.replace(URL_CREDENTIALS, '$1***@').replace(SQL_PASSWORD, "$1'***'");
    for (const secret of secrets()) {
      // Very short values would mask ordinary words; they are no secret worth the name.
      if (secret.length >= 4) out = out.split(secret).join('***');
    }
    return out;
  };
}
