/** A yes/no UI preference kept in localStorage (e.g. a collapsed side panel), per browser. */
import { useCallback, useState } from 'react';

type FlagStorage = Pick<Storage, 'getItem' | 'setItem'>;

/** The stored flag, or `fallback` when it is missing, unreadable or storage is blocked. */
export function readFlag(storage: FlagStorage | undefined, key: string, fallback: boolean): boolean {
  try {
    const v = storage?.getItem(key);
    return v === 'true' ? true : v === 'false' ? false : fallback;
  } catch {
    return fallback;
  }
}

export function writeFlag(storage: FlagStorage | undefined, key: string, value: boolean): void {
  try {
    storage?.setItem(key, String(value));
  } catch {
    // Storage full or blocked (private mode): the preference lasts for this page only.
  }
}

const browserStorage = () => (typeof window === 'undefined' ? undefined : window.localStorage);

export function usePersistentFlag(key: string, fallback = false): [boolean, (value: boolean) => void] {
  const [value, setValue] = useState(() => readFlag(browserStorage(), key, fallback));
  const set = useCallback(
    (next: boolean) => {
      setValue(next);
      writeFlag(browserStorage(), key, next);
    },
    [key],
  );
  return [value, set];
}
