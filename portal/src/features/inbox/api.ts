/** The Inbox's server state: queries and commands on the conversation service. */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";
import type { components } from "../../api/schema/conversation";

export type Conversation = components["schemas"]["ConversationOut"];
export type ConversationDetail = components["schemas"]["ConversationDetail"];
export type Message = components["schemas"]["MessageOut"];
export type Visitor = components["schemas"]["VisitorOut"];
export type VisitorProfile = components["schemas"]["VisitorProfile"];
export type Colleague = components["schemas"]["ColleagueOut"];
export type Assignment = components["schemas"]["AssignmentOut"];

export const PAGE = 200;
export const keys = {
  queue: ["inbox", "queue"] as const,
  shared: ["inbox", "shared"] as const,
  conversation: (id: string) => ["inbox", "conversation", id] as const,
  visitor: (id: string) => ["inbox", "visitor", id] as const,
};

function nextOffset(last: { offset: number; limit: number; total: number }) {
  const next = last.offset + last.limit;
  return next < last.total ? next : undefined;
}

/** My queue (and, with routing off, the shared one), oldest first, page by page. */
export function useQueue() {
  return useInfiniteQuery({
    queryKey: keys.queue,
    initialPageParam: 0,
    queryFn: ({ pageParam }) =>
      unwrap(api.GET("/v1/queue", { params: { query: { offset: pageParam, limit: PAGE } } })),
    getNextPageParam: nextOffset,
  });
}

/** The tenant's waiting conversations, for those who may take any of them (dispatch). */
export function useSharedQueue(enabled: boolean) {
  return useInfiniteQuery({
    queryKey: keys.shared,
    enabled,
    initialPageParam: 0,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/v1/dispatch/conversations", {
          params: { query: { status: "waiting", offset: pageParam, limit: PAGE } },
        }),
      ),
    getNextPageParam: nextOffset,
  });
}

export function useConversation(id: string | undefined) {
  return useQuery({
    queryKey: keys.conversation(id ?? ""),
    enabled: !!id,
    queryFn: () =>
      unwrap(api.GET("/v1/conversations/{conversation_id}", { params: { path: { conversation_id: id! } } })),
  });
}

export function useVisitor(id: string | undefined) {
  return useQuery({
    queryKey: keys.visitor(id ?? ""),
    enabled: !!id,
    queryFn: () => unwrap(api.GET("/v1/visitors/{visitor_id}", { params: { path: { visitor_id: id! } } })),
  });
}

export function useColleagues() {
  return useQuery({
    queryKey: ["inbox", "colleagues"],
    queryFn: () => unwrap(api.GET("/v1/colleagues")),
    staleTime: 60_000,
  });
}

export function useTopics() {
  return useQuery({
    queryKey: ["inbox", "topics"],
    queryFn: () => unwrap(api.GET("/v1/topics", { params: { query: { limit: 200 } } })),
    staleTime: 60_000,
  });
}

export function useCompetences() {
  return useQuery({
    queryKey: ["inbox", "competences"],
    queryFn: () => unwrap(api.GET("/v1/competences", { params: { query: { limit: 200 } } })),
    staleTime: 60_000,
  });
}

/** A command on one conversation; afterwards the queues and the conversation are fresh. */
export function useConversationCommand<Vars>(id: string, run: (vars: Vars) => Promise<unknown>) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: run,
    onSettled: async () => {
      await Promise.all([
        client.invalidateQueries({ queryKey: keys.conversation(id) }),
        client.invalidateQueries({ queryKey: keys.queue }),
        client.invalidateQueries({ queryKey: keys.shared }),
      ]);
    },
  });
}

const path = (id: string) => ({ params: { path: { conversation_id: id } } });

export const commands = {
  take: (id: string) => unwrap(api.POST("/v1/conversations/{conversation_id}/take", path(id))),
  reply: (id: string, text: string, clientMessageId: string, attachmentIds: string[] = []) =>
    unwrap(
      api.POST("/v1/conversations/{conversation_id}/messages", {
        ...path(id),
        body: { text, client_message_id: clientMessageId, attachment_ids: attachmentIds },
      }),
    ),
  /** The file itself is the body; the server reads its type from the bytes. */
  upload: async (id: string, file: File) => {
    const bytes = new Uint8Array(await file.arrayBuffer());
    return unwrap(
      api.POST("/v1/conversations/{conversation_id}/attachments", {
        params: { path: { conversation_id: id }, query: { file_name: file.name } },
        body: bytes as unknown as string,
        bodySerializer: (body: unknown) => body as Uint8Array,
        headers: { "Content-Type": "application/octet-stream" },
      }),
    );
  },
  passOn: (id: string, userId: string) =>
    unwrap(api.POST("/v1/conversations/{conversation_id}/assign", { ...path(id), body: { user_id: userId } })),
  note: (id: string, text: string) =>
    unwrap(api.POST("/v1/conversations/{conversation_id}/notes", { ...path(id), body: { text } })),
  close: (id: string, topics: string[]) =>
    unwrap(api.POST("/v1/conversations/{conversation_id}/close", { ...path(id), body: { topics } })),
  archive: (id: string, topics: string[]) =>
    unwrap(api.POST("/v1/conversations/{conversation_id}/archive", { ...path(id), body: { topics } })),
  requirements: (id: string, language: string, competences: string[]) =>
    unwrap(
      api.PUT("/v1/conversations/{conversation_id}/requirements", {
        ...path(id),
        body: { language, competences },
      }),
    ),
  pauseBot: (id: string) => unwrap(api.POST("/v1/conversations/{conversation_id}/bot/pause", path(id))),
  resumeBot: (id: string) => unwrap(api.POST("/v1/conversations/{conversation_id}/bot/resume", path(id))),
  eraseVisitor: (visitorId: string) =>
    unwrap(api.POST("/v1/visitors/{visitor_id}/erasure", { params: { path: { visitor_id: visitorId } } })),
  saveVisitor: (visitorId: string, profile: VisitorProfile) =>
    unwrap(api.PATCH("/v1/visitors/{visitor_id}", { params: { path: { visitor_id: visitorId } }, body: profile })),
};
