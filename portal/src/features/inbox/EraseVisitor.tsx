/** An Administrator erases the visitor (GDPR art. 17): after a confirmation, their name,
 * contact fields and messages become unreadable everywhere (docs/data-lifecycle.md). Shown
 * only to those whose session has the `administration` function; the server decides too. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { FormError } from "../../components";
import { fieldErrors } from "../../api/client";
import { may, useSession } from "../../app/session";
import { commands, keys, type Visitor } from "./api";

export function EraseVisitor({ visitor, conversationId }: { visitor: Visitor; conversationId: string }) {
  const { t } = useTranslation("inbox");
  const session = useSession();
  const client = useQueryClient();
  const erase = useMutation({
    mutationFn: () => commands.eraseVisitor(visitor.visitor_id),
    onSuccess: async () => {
      await Promise.all([
        client.invalidateQueries({ queryKey: keys.visitor(visitor.visitor_id) }),
        client.invalidateQueries({ queryKey: keys.conversation(conversationId) }),
      ]);
    },
  });
  if (visitor.erased_at) {
    return (
      <p className="muted" role="status">
        {t("erased")}
      </p>
    );
  }
  if (!may(session.data, "administration")) return null;
  return (
    <div>
      <button
        type="button"
        className="danger"
        disabled={erase.isPending}
        onClick={() => {
          if (window.confirm(t("confirmErase"))) erase.mutate();
        }}
      >
        {t("eraseVisitor")}
      </button>
      <FormError message={erase.error ? fieldErrors(erase.error).form : undefined} />
    </div>
  );
}
