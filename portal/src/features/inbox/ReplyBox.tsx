/**
 * The reply box. Each draft has its own `client_message_id`, kept until the server accepted
 * it: a retry after a failed or timed-out request cannot send the reply twice. The text stays
 * in the box when a request fails, with the API's message next to it.
 */
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Field } from "../../components";
import { fieldErrors } from "../../api/client";
import { commands, useConversationCommand } from "./api";

function newId(): string {
  return typeof crypto !== "undefined" && "randomUUID" in crypto
    ? crypto.randomUUID()
    : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

export function ReplyBox({ conversationId }: { conversationId: string }) {
  const { t } = useTranslation("inbox");
  const [text, setText] = useState("");
  const [draftId, setDraftId] = useState(newId);
  const [error, setError] = useState<string>();
  const send = useConversationCommand(conversationId, (vars: { text: string; id: string }) =>
    commands.reply(conversationId, vars.text, vars.id),
  );
  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    if (!text.trim() || send.isPending) return;
    setError(undefined);
    send.mutate(
      { text, id: draftId },
      {
        onSuccess: () => {
          setText("");
          setDraftId(newId());
        },
        onError: (failure) => {
          const { fields, form } = fieldErrors(failure);
          setError(fields.text ?? form ?? t("replyKept"));
        },
      },
    );
  };
  return (
    <form className="reply" onSubmit={submit}>
      <Field label={t("reply")} error={error}>
        <textarea
          rows={3}
          value={text}
          maxLength={4000}
          onChange={(event) => {
            // A changed text after a failed attempt is a new reply; the same text, a retry.
            if (error) setDraftId(newId());
            setText(event.target.value);
          }}
          onKeyDown={(event) => {
            if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) submit(event);
          }}
        />
      </Field>
      <button type="submit" disabled={send.isPending || !text.trim()}>
        {send.isPending ? t("sending") : t("send")}
      </button>
    </form>
  );
}
