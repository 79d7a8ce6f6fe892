export declare const ROOT: string;
export declare const RUNTIMES: Record<string, { exe: string; tsArgs: string[] }>;
export declare function runtime(name: string): { name: string; exe: string; tsArgs: string[] };
export declare function commandFor(name: string, file: string, args?: string[]): string[];
