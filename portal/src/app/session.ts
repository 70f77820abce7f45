/**
 * The signed-in person, from `GET /v1/me`: who they are, their tenant, and the
 * `functions` of `shared/access.py` they may use (the server applies role and plan). The
 * Portal never keeps its own copy of the access table: it asks `may(session, name)`.
 */
import { useMutation, useQuery } from "@tanstack/react-query";
import { ApiError, api, unwrap } from "../api/client";
import type { components } from "../api/schema/conversation";

export type Session = components["schemas"]["Me"];
export const SESSION_KEY = ["session"] as const;

async function fetchSession(): Promise<Session | null> {
  try {
    return await unwrap(api.GET("/v1/me"));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

export function useSession() {
  return useQuery({ queryKey: SESSION_KEY, queryFn: fetchSession, staleTime: 60_000 });
}

export function may(session: Session | null | undefined, fn: string): boolean {
  return !!session && session.functions.includes(fn);
}

/** Signs out, then loads the sign-in page afresh: nothing of the session stays in memory. */
export function useSignOut() {
  return useMutation({
    mutationFn: () => unwrap(api.POST("/v1/auth/logout")),
    onSettled: () => window.location.assign("/sign-in"),
  });
}
