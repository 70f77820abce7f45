import { describe, expect, it } from "vitest";
import administration from "../administration/i18n";
import dispatch from "../dispatch/i18n";
import faq from "../faq/i18n";
import statistics from "../statistics/i18n";
import history from "./i18n";

/** Every key path of a nested text object, plural forms folded into their base key. */
function keys(texts: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(texts)
    .flatMap(([key, value]) =>
      value && typeof value === "object"
        ? keys(value as Record<string, unknown>, `${prefix}${key}.`)
        : [`${prefix}${key.replace(/_(one|other|many|zero)$/, "")}`],
    )
    .filter((key, i, all) => all.indexOf(key) === i)
    .sort();
}

describe("texts of Dispatch, History, Statistics, Administration and FAQ", () => {
  it.each(Object.entries({ administration, dispatch, faq, history, statistics }))(
    "%s has every text in Dutch, French and English",
    (_name, messages) => {
      const dutch = keys(messages.nl);
      expect(dutch.length).toBeGreaterThan(3);
      expect(keys(messages.fr)).toEqual(dutch);
      expect(keys(messages.en)).toEqual(dutch);
    },
  );
});
