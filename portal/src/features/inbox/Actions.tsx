/** Take, pass on, close (and archive with topics), archive, pause or resume the chatbot. */
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Field, FormError } from "../../components";
import { fieldErrors } from "../../api/client";
import { may, useSession } from "../../app/session";
import { commands, useColleagues, useConversationCommand, useTopics, type ConversationDetail } from "./api";

function errorOf(error: unknown): string | undefined {
  if (!error) return undefined;
  const { fields, form } = fieldErrors(error);
  return form ?? Object.values(fields)[0];
}

export function Actions({ conversation: c }: { conversation: ConversationDetail }) {
  const { t } = useTranslation("inbox");
  const { data: session } = useSession();
  const id = c.conversation_id;
  const mine = c.assignee_id === session?.user_id;
  const open = !["closed", "archived"].includes(c.status);
  const take = useConversationCommand(id, () => commands.take(id));
  const pause = useConversationCommand(id, () => commands.pauseBot(id));
  const resume = useConversationCommand(id, () => commands.resumeBot(id));
  const botPlan = may(session, "chatbot") && may(session, "chatbot.handover");
  const canTake = (c.status === "assigned" && mine) || (c.status === "waiting" && c.assignee_id == null);
  return (
    <div className="actions">
      <div className="action-row">
        {canTake && (
          <button type="button" onClick={() => take.mutate(undefined)} disabled={take.isPending}>
            {t("take")}
          </button>
        )}
        {botPlan && open && (c.status === "bot" || c.handover === "bot") && (
          <button type="button" className="secondary" onClick={() => pause.mutate(undefined)}>
            {t("pauseBot")}
          </button>
        )}
        {botPlan && open && (c.handover === "waiting_for_human" || c.handover === "human") && (
          <button type="button" className="secondary" onClick={() => resume.mutate(undefined)}>
            {t("resumeBot")}
          </button>
        )}
      </div>
      <FormError message={errorOf(take.error) ?? errorOf(pause.error) ?? errorOf(resume.error)} />
      {open && (mine || may(session, "dispatch")) && <PassOn conversation={c} />}
      {open && (mine || may(session, "dispatch")) && <CloseForm conversation={c} />}
      {c.status === "closed" && <CloseForm conversation={c} archiveOnly />}
    </div>
  );
}

function PassOn({ conversation: c }: { conversation: ConversationDetail }) {
  const { t } = useTranslation("inbox");
  const { data: session } = useSession();
  const colleagues = useColleagues();
  const [to, setTo] = useState("");
  const id = c.conversation_id;
  const pass = useConversationCommand(id, (userId: string) => commands.passOn(id, userId));
  const { fields, form } = pass.error ? fieldErrors(pass.error) : { fields: {}, form: undefined };
  const others = (colleagues.data ?? []).filter((p) => p.user_id !== c.assignee_id && p.user_id !== undefined);
  return (
    <form
      className="inline-form"
      onSubmit={(event) => {
        event.preventDefault();
        if (to) pass.mutate(to, { onSuccess: () => setTo("") });
      }}
    >
      <Field label={t("passOn")} error={fields.user_id ?? form}>
        <select value={to} onChange={(event) => setTo(event.target.value)}>
          <option value="">—</option>
          {others.map((p) => (
            <option key={p.user_id} value={p.user_id}>
              {p.first_name} {p.last_name}
              {p.user_id === session?.user_id ? ` (${t("you")})` : ""} · {p.presence}
            </option>
          ))}
        </select>
      </Field>
      <button type="submit" className="secondary" disabled={!to || pass.isPending}>
        {t("passOnSubmit")}
      </button>
    </form>
  );
}

function CloseForm({ conversation: c, archiveOnly = false }: { conversation: ConversationDetail; archiveOnly?: boolean }) {
  const { t } = useTranslation("inbox");
  const topics = useTopics();
  const [chosen, setChosen] = useState<string[]>([]);
  const id = c.conversation_id;
  const close = useConversationCommand(id, (names: string[]) =>
    archiveOnly ? commands.archive(id, names) : commands.close(id, names),
  );
  const { fields, form } = close.error ? fieldErrors(close.error) : { fields: {}, form: undefined };
  return (
    <form
      className="close-form"
      onSubmit={(event) => {
        event.preventDefault();
        close.mutate(chosen);
      }}
    >
      <fieldset>
        <legend>{t("topics")}</legend>
        {(topics.data?.items ?? []).map((topic) => (
          <label key={topic.id} className="check">
            <input
              type="checkbox"
              checked={chosen.includes(topic.name)}
              onChange={(event) =>
                setChosen((now) =>
                  event.target.checked ? [...now, topic.name] : now.filter((name) => name !== topic.name),
                )
              }
            />
            {topic.name}
          </label>
        ))}
        {fields.topics && (
          <p className="field-error" role="alert">
            {fields.topics}
          </p>
        )}
      </fieldset>
      <FormError message={form} />
      <button
        type="submit"
        className={archiveOnly ? undefined : "danger"}
        disabled={close.isPending || (archiveOnly && chosen.length === 0)}
      >
        {archiveOnly ? t("archive") : chosen.length ? t("closeWithTopics") : t("close")}
      </button>
    </form>
  );
}
