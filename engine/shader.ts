// What the engine knows about a compiled WGSL kernel. Produced ahead of time
// by kernels/build.ts (reflection of the WGSL itself), so bindings are
// declared once, in the shader.

export interface UniformMember {
  name: string;
  /** byte offset inside the uniform struct */
  offset: number;
  type: 'u32' | 'i32' | 'f32';
  /** 1 for scalars, 2..4 for vectors */
  count: number;
}

export interface BindingInfo {
  name: string;
  group: number;
  binding: number;
  kind: 'storage' | 'read-only-storage' | 'uniform';
  /** uniform structs only: byte size and members */
  size?: number;
  members?: UniformMember[];
}

export interface ShaderInfo {
  name: string;
  code: string;
  bindings: BindingInfo[];
  entries: string[];
  overrides: string[];
}
