/** The conversation's language and required competences; routing re-checks the holder. */
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Field, FormError } from "../../components";
import { fieldErrors } from "../../api/client";
import { commands, useCompetences, useConversationCommand, type ConversationDetail } from "./api";

export function Requirements({ conversation: c }: { conversation: ConversationDetail }) {
  const { t } = useTranslation("inbox");
  const competences = useCompetences();
  const [language, setLanguage] = useState(c.language);
  const [chosen, setChosen] = useState<string[]>(c.required_competences);
  const save = useConversationCommand(c.conversation_id, () =>
    commands.requirements(c.conversation_id, language, chosen),
  );
  const { fields, form } = save.error ? fieldErrors(save.error) : { fields: {}, form: undefined };
  return (
    <form
      className="panel"
      aria-labelledby="requirements-title"
      onSubmit={(event) => {
        event.preventDefault();
        save.mutate(undefined);
      }}
    >
      <h3 id="requirements-title">{t("requirements")}</h3>
      <Field label={t("language")} error={fields.language}>
        <input value={language} maxLength={16} onChange={(e) => setLanguage(e.target.value)} />
      </Field>
      <fieldset>
        <legend>{t("competences")}</legend>
        {(competences.data?.items ?? []).map((competence) => (
          <label key={competence.id} className="check">
            <input
              type="checkbox"
              checked={chosen.includes(competence.id)}
              onChange={(event) =>
                setChosen((now) =>
                  event.target.checked ? [...now, competence.id] : now.filter((id) => id !== competence.id),
                )
              }
            />
            {competence.name}
          </label>
        ))}
        {fields.competences && (
          <p className="field-error" role="alert">
            {fields.competences}
          </p>
        )}
      </fieldset>
      <FormError message={form} />
      <button type="submit" className="secondary" disabled={save.isPending}>
        {t("saveRequirements")}
      </button>
    </form>
  );
}
