import { useTranslation } from "react-i18next";
import { LANGUAGES, type Language } from "../../app/feature";
import { chooseLanguage } from "../../app/i18n";

/** The language switch on the pages before sign-in. */
export function LanguagePicker() {
  const { t, i18n } = useTranslation("app");
  return (
    <label className="language">
      <span>{t("language")}</span>
      <select value={i18n.language} onChange={(e) => chooseLanguage(e.target.value as Language)}>
        {LANGUAGES.map((language) => (
          <option key={language} value={language}>
            {language.toUpperCase()}
          </option>
        ))}
      </select>
    </label>
  );
}
