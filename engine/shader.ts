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

const KINDS = { r: 'read-only-storage', s: 'storage', u: 'uniform' } as const;

/**
 * A kernel's ShaderInfo from the compact form kernels/build.ts generates.
 * `layout` lists the bindings of @group(0) in binding order, space-separated:
 *   NAME:r, NAME:s          read-only / read-write storage
 *   NAME:u:MEMBER:MEMBER... a uniform struct, MEMBER = NAME[/TYPE[/COUNT]]
 *                           (TYPE u32 and COUNT 1 unless stated)
 * Member offsets and the struct's size follow WGSL's layout rules (a scalar
 * aligns to 4 bytes, a vec2 to 8, a vec3 or vec4 to 16); the build checks the
 * result against the reflected layout. `entries` and `overrides` are
 * space-separated names.
 */
export function shaderInfo(name: string, code: string, layout: string, entries: string, overrides: string): ShaderInfo {
  const bindings = layout.split(' ').map((b, binding): BindingInfo => {
    const [n, k, ...members] = b.split(':');
    const info: BindingInfo = { name: n, group: 0, binding, kind: KINDS[k as keyof typeof KINDS] };
    if (k === 'u') {
      let end = 0;
      let structAlign = 4;
      const laid = members.map((m): UniformMember => {
        const [name, type = 'u32', count = 1] = m.split('/');
        const align = +count > 2 ? 16 : 4 * +count;
        const offset = Math.ceil(end / align) * align;
        end = offset + 4 * +count;
        structAlign = Math.max(structAlign, align);
        return { name, offset, type: type as UniformMember['type'], count: +count };
      });
      info.size = Math.ceil(end / structAlign) * structAlign;
      info.members = laid;
    }
    return info;
  });
  return { name, code, bindings, entries: entries.split(' '), overrides: overrides ? overrides.split(' ') : [] };
}

/**
 * A `const NAME = <n>u;` of a shader's code (the build keeps that spelling for
 * the constants wrappers read: kernels/build.ts), so tile sizes are stated
 * once, in the WGSL.
 */
export function shaderConst(shader: ShaderInfo, name: string): number {
  const m = new RegExp(`const ${name} = (\\d+)u;`).exec(shader.code);
  if (!m) throw new Error(`${shader.name}.wgsl: no constant ${name}`);
  return Number(m[1]);
}
