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
  // Files chosen for this draft; each is uploaded once (its id kept) before the reply names it.
  const [files, setFiles] = useState<{ file: File; attachmentId?: string }[]>([]);
  const send = useConversationCommand(
    conversationId,
    async (vars: { text: string; id: string; files: { file: File; attachmentId?: string }[] }) => {
      const ids: string[] = [];
      for (const chosen of vars.files) {
        if (!chosen.attachmentId) {
          const uploaded = await commands.upload(conversationId, chosen.file);
          chosen.attachmentId = uploaded.attachment_id;
        }
        ids.push(chosen.attachmentId);
      }
      return commands.reply(conversationId, vars.text, vars.id, ids);
    },
  );
  const empty = !text.trim() && files.length === 0;
  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    if (empty || send.isPending) return;
    setError(undefined);
    send.mutate(
      { text, id: draftId, files },
      {
        onSuccess: () => {
          setText("");
          setFiles([]);
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
      {files.length > 0 && (
        <ul className="reply-files" aria-label={t("attachments")}>
          {files.map((chosen, i) => (
            <li key={`${chosen.file.name}-${i}`}>
              {chosen.file.name}{" "}
              <button type="button" onClick={() => setFiles(files.filter((_, j) => j !== i))}>
                {t("removeFile")}
              </button>
            </li>
          ))}
        </ul>
      )}
      <label className="attach">
        {t("attach")}
        <input
          type="file"
          multiple
          onChange={(event) => {
            const chosen = Array.from(event.target.files ?? []).map((file) => ({ file }));
            if (error) setDraftId(newId());
            setFiles([...files, ...chosen].slice(0, 10));
            event.target.value = "";
          }}
        />
      </label>
      <button type="submit" disabled={send.isPending || empty}>
        {send.isPending ? t("sending") : t("send")}
      </button>
    </form>
  );
}
