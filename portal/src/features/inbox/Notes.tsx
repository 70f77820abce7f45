/** Internal notes on the conversation (never sent to the visitor). */
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Field, useDateTime } from "../../components";
import { fieldErrors } from "../../api/client";
import { commands, useColleagues, useConversationCommand, type ConversationDetail } from "./api";

export function Notes({ conversation: c }: { conversation: ConversationDetail }) {
  const { t } = useTranslation("inbox");
  const when = useDateTime();
  const colleagues = useColleagues();
  const [text, setText] = useState("");
  const add = useConversationCommand(c.conversation_id, (note: string) => commands.note(c.conversation_id, note));
  const { fields, form } = add.error ? fieldErrors(add.error) : { fields: {}, form: undefined };
  const name = (id: string) => {
    const p = colleagues.data?.find((person) => person.user_id === id);
    return p ? `${p.first_name} ${p.last_name}` : "";
  };
  return (
    <section className="notes" aria-labelledby="notes-title">
      <h3 id="notes-title">{t("notes")}</h3>
      {c.notes.length === 0 ? (
        <p className="muted">{t("noNotes")}</p>
      ) : (
        <ul>
          {c.notes.map((n) => (
            <li key={n.note_id}>
              <span className="muted small">
                {name(n.author_id)} · {when(n.at)}
              </span>
              <p>{n.text}</p>
            </li>
          ))}
        </ul>
      )}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (text.trim()) add.mutate(text, { onSuccess: () => setText("") });
        }}
      >
        <Field label={t("note")} error={fields.text ?? form}>
          <textarea rows={2} value={text} maxLength={4000} onChange={(e) => setText(e.target.value)} />
        </Field>
        <button type="submit" className="secondary" disabled={!text.trim() || add.isPending}>
          {t("addNote")}
        </button>
      </form>
    </section>
  );
}
