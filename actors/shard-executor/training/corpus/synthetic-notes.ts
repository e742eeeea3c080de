/**
 * SYNTHETIC clinical notes for the demo federation: made-up text from seeded templates, with no
 * real patient data in it, no names, no dates, no identifiers. Each hospital has its own
 * specialty and vocabulary, so the three local models learn visibly different text:
 * hospital-a cardiology, hospital-b radiology reports, hospital-c the emergency department.
 * Deterministic: the same specialty, count and seed give the same notes, byte for byte (the
 * generator is random.ts's mulberry32, never Math.random). The directory it writes carries a
 * SYNTHETIC.md saying so, and every .jsonl record has `"synthetic": true`.
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { seededUint32 } from "../../random.ts";
import { requireOption } from "../errors.ts";

export type Specialty = "cardiology" | "radiology" | "emergency";

/** The demo's hospitals and the specialty each one's synthetic notes come from. */
export const SYNTHETIC_SPECIALTY_OF: Readonly<Record<string, Specialty>> = {
  "hospital-a": "cardiology",
  "hospital-b": "radiology",
  "hospital-c": "emergency",
};

interface Profile {
  /** Sentence templates; {slot} is filled from `slots`, {age} and {sex} from the patient. */
  readonly openings: readonly string[];
  readonly body: readonly string[];
  readonly closings: readonly string[];
  readonly slots: Readonly<Record<string, readonly string[]>>;
}

const SHARED_SLOTS = {
  sex: ["male", "female"],
  hr: ["58", "64", "72", "80", "88", "96", "104", "112", "120"],
  bp: ["98/62", "110/70", "124/78", "132/84", "146/90", "158/96", "172/100"],
  spo2: ["91", "93", "95", "96", "97", "98", "99"],
  temp: ["36.4", "36.8", "37.2", "37.9", "38.4", "39.1"],
  followup: ["in one week", "in two weeks", "in one month", "in three months", "as needed"],
};

const PROFILES: Readonly<Record<Specialty, Profile>> = {
  cardiology: {
    openings: [
      "Cardiology clinic note. {age}-year-old {sex} with {cardiac} presents for follow-up.",
      "Cardiology consult. {age}-year-old {sex} referred for {symptom}.",
      "Heart failure clinic. {age}-year-old {sex} with {cardiac}, NYHA class {nyha}.",
    ],
    body: [
      "Reports {symptom} on exertion, no syncope.",
      "ECG shows {ecg}.",
      "Echocardiogram: ejection fraction {ef} percent, {echo}.",
      "Troponin {troponin}, BNP {bnp}.",
      "Heart rate {hr}, blood pressure {bp}.",
      "Currently taking {cardmed} and {cardmed}.",
      "Auscultation reveals {murmur}.",
    ],
    closings: [
      "Plan: continue {cardmed}, start {cardmed}, repeat echocardiogram {followup}.",
      "Plan: titrate {cardmed}, cardiac rehabilitation, review {followup}.",
      "Plan: refer for {procedure}, follow up {followup}.",
    ],
    slots: {
      cardiac: ["atrial fibrillation", "heart failure with reduced ejection fraction", "hypertension", "coronary artery disease", "aortic stenosis", "a prior NSTEMI"],
      symptom: ["chest pain", "palpitations", "shortness of breath", "ankle swelling", "fatigue"],
      ecg: ["sinus rhythm", "atrial fibrillation with controlled ventricular rate", "left bundle branch block", "ST depression in the lateral leads", "left ventricular hypertrophy"],
      ef: ["25", "30", "35", "45", "55", "60"],
      echo: ["mild mitral regurgitation", "moderate aortic stenosis", "dilated left ventricle", "normal valves", "reduced systolic function"],
      troponin: ["negative", "mildly elevated", "rising"],
      bnp: ["normal", "elevated", "markedly elevated"],
      cardmed: ["metoprolol", "bisoprolol", "apixaban", "furosemide", "atorvastatin", "ramipril", "sacubitril valsartan", "spironolactone"],
      murmur: ["a systolic ejection murmur", "no murmurs", "an irregularly irregular rhythm", "bibasal crackles"],
      nyha: ["I", "II", "III"],
      procedure: ["coronary angiography", "electrical cardioversion", "catheter ablation", "a stress test", "Holter monitoring"],
    },
  },
  radiology: {
    openings: [
      "Radiology report. {modality} of the {region}, {contrast}.",
      "Imaging report. {modality} {region}. Indication: {indication}.",
      "{modality} {region} report for a {age}-year-old {sex}. Indication: {indication}.",
    ],
    body: [
      "Technique: {technique}.",
      "Comparison: {comparison}.",
      "Findings: {finding}.",
      "There is {finding}.",
      "No {negative}.",
      "The {structure} is {appearance}.",
    ],
    closings: [
      "Impression: {impression}.",
      "Impression: {impression}. Recommend {recommend}.",
      "Impression: {impression}. No acute abnormality otherwise.",
    ],
    slots: {
      modality: ["CT", "MRI", "Chest radiograph", "Ultrasound", "PET-CT"],
      region: ["chest", "abdomen and pelvis", "head", "lumbar spine", "right knee", "liver"],
      contrast: ["with intravenous contrast", "without contrast", "with and without contrast"],
      indication: ["cough and fever", "abdominal pain", "headache", "staging", "trauma", "follow-up of a nodule"],
      technique: ["axial images with coronal reconstructions", "standard protocol", "single frontal view", "multiplanar sequences"],
      comparison: ["none available", "prior study from last year", "radiograph from three months ago"],
      finding: ["a 6 mm pulmonary nodule in the right upper lobe", "consolidation in the left lower lobe", "a small pleural effusion", "a simple hepatic cyst", "mild degenerative change", "a subsegmental atelectasis", "a 2 cm renal cyst"],
      negative: ["pneumothorax", "free fluid", "acute intracranial hemorrhage", "fracture", "lymphadenopathy"],
      structure: ["heart", "liver", "spleen", "mediastinum", "ventricular system"],
      appearance: ["normal in size", "unremarkable", "mildly enlarged", "within normal limits"],
      impression: ["pneumonia in the left lower lobe", "indeterminate pulmonary nodule", "no acute findings", "small pleural effusion", "benign hepatic cyst", "degenerative disc disease"],
      recommend: ["follow-up CT in twelve months", "clinical correlation", "ultrasound correlation", "comparison with prior imaging"],
    },
  },
  emergency: {
    openings: [
      "Emergency department note. {age}-year-old {sex} arrived by {arrival} with {complaint}.",
      "ED triage. Chief complaint: {complaint}. Triage category {triage}.",
      "Emergency assessment of a {age}-year-old {sex} presenting with {complaint}.",
    ],
    body: [
      "Vitals: heart rate {hr}, blood pressure {bp}, oxygen saturation {spo2} percent, temperature {temp}.",
      "Onset {onset}.",
      "Examination: {exam}.",
      "Given {edmed} in the department.",
      "Labs: {labs}.",
      "{imaging} ordered.",
    ],
    closings: [
      "Disposition: {disposition}.",
      "Disposition: {disposition}. Return if symptoms worsen.",
      "Assessment: {assessment}. Disposition: {disposition}.",
    ],
    slots: {
      arrival: ["ambulance", "walk-in", "private car"],
      complaint: ["chest pain", "shortness of breath", "abdominal pain", "a fall", "a laceration to the hand", "fever", "confusion", "a headache"],
      triage: ["1", "2", "3", "4", "5"],
      onset: ["two hours ago", "this morning", "yesterday evening", "three days ago", "sudden"],
      exam: ["alert and oriented", "tender right lower quadrant", "clear lungs", "wheeze on both sides", "a 3 cm laceration", "no focal neurology"],
      edmed: ["paracetamol", "morphine", "ondansetron", "salbutamol nebuliser", "intravenous fluids", "ceftriaxone", "aspirin"],
      labs: ["full blood count normal", "raised white cell count", "lactate 2.1", "troponin negative", "CRP elevated"],
      imaging: ["Chest radiograph", "CT head", "Ultrasound abdomen", "CT abdomen", "X-ray of the wrist"],
      assessment: ["viral illness", "suspected appendicitis", "asthma exacerbation", "minor head injury", "cellulitis", "syncope"],
      disposition: ["discharged home", "admitted to the medical ward", "admitted to surgery", "observation unit", "transferred to intensive care"],
    },
  },
};

/**
 * `count` synthetic notes of one specialty, deterministic in `seed`.
 * @example syntheticNotes("cardiology", 2, 1)[0]; // "Cardiology consult. 88-year-old male referred for ankle swelling. Troponin rising, …"
 */
export function syntheticNotes(specialty: Specialty, count: number, seed: number): string[] {
  const profile = PROFILES[specialty];
  requireOption(profile !== undefined, "specialty", specialty, `must be one of ${Object.keys(PROFILES).join(", ")}`);
  requireOption(Number.isSafeInteger(count) && count >= 0 && count <= 1_000_000, "count", count, "must be a whole number from 0 to 1,000,000");
  requireOption(Number.isSafeInteger(seed), "seed", seed, "must be an integer");
  const next = seededUint32(seed ^ hashString(specialty));
  const pick = <T>(items: readonly T[]): T => items[next() % items.length]!;
  const slots: Record<string, readonly string[]> = { ...SHARED_SLOTS, ...profile.slots };
  const notes: string[] = [];
  for (let n = 0; n < count; n++) {
    const patient = { age: String(18 + (next() % 75)), sex: pick(SHARED_SLOTS.sex) };
    const fill = (template: string): string => template.replace(/\{(\w+)\}/g, (_, slot: string) => (slot === "age" ? patient.age : slot === "sex" ? patient.sex : pick(slots[slot]!)));
    const bodyCount = 2 + (next() % 3);
    const sentences = [fill(pick(profile.openings))];
    const body = [...profile.body]; // distinct sentences: a partial Fisher–Yates shuffle
    for (let i = 0; i < bodyCount; i++) {
      const j = i + (next() % (body.length - i));
      [body[i], body[j]] = [body[j]!, body[i]!];
      sentences.push(fill(body[i]!));
    }
    sentences.push(fill(pick(profile.closings)));
    notes.push(sentences.join(" "));
  }
  return notes;
}

export interface WriteSyntheticCorpusOptions {
  /** A demo hospital id (SYNTHETIC_SPECIALTY_OF) or a specialty. */
  readonly hospital: string;
  readonly count: number;
  readonly seed: number;
  /** "jsonl": one notes.jsonl; "txt": one note-NNNNN.txt per note. */
  readonly format: "jsonl" | "txt";
}

/**
 * Writes the notes and a SYNTHETIC.md into `dir` (created; refused when it already holds corpus files).
 * @example await writeSyntheticCorpus("data/hospital-b", { hospital: "hospital-b", count: 500, seed: 1, format: "jsonl" });
 */
export async function writeSyntheticCorpus(dir: string, options: WriteSyntheticCorpusOptions): Promise<{ files: string[]; specialty: Specialty }> {
  const specialty = SYNTHETIC_SPECIALTY_OF[options.hospital] ?? (Object.hasOwn(PROFILES, options.hospital) ? (options.hospital as Specialty) : undefined);
  requireOption(specialty !== undefined, "hospital", options.hospital, `must be one of ${[...Object.keys(SYNTHETIC_SPECIALTY_OF), ...Object.keys(PROFILES)].join(", ")}`);
  requireOption(options.format === "jsonl" || options.format === "txt", "format", options.format, 'must be "jsonl" or "txt"');
  const notes = syntheticNotes(specialty!, options.count, options.seed);
  await mkdir(dir, { recursive: true });
  const existing = (await readdir(dir)).filter((f) => f.endsWith(".txt") || f.endsWith(".jsonl"));
  requireOption(existing.length === 0, "dir", dir, `already holds corpus files (${existing.slice(0, 3).join(", ")}…); use an empty directory`);
  const files = ["SYNTHETIC.md"];
  await writeFile(join(dir, "SYNTHETIC.md"), `# Synthetic clinical notes\n\nGenerated by fedrouter (actors/shard-executor/training/corpus/synthetic-notes.ts) from seeded templates:\nspecialty ${specialty}, ${options.count} notes, seed ${options.seed}. No real patient data: every name-free,\ndate-free sentence is made up, for demonstrating federated training only.\n`);
  if (options.format === "jsonl") {
    await writeFile(join(dir, "notes.jsonl"), notes.map((text) => JSON.stringify({ text, synthetic: true, specialty })).join("\n") + (notes.length ? "\n" : ""));
    files.push("notes.jsonl");
  } else {
    const width = Math.max(5, String(notes.length).length);
    for (const [i, text] of notes.entries()) {
      const name = `note-${String(i + 1).padStart(width, "0")}.txt`;
      await writeFile(join(dir, name), text + "\n");
      files.push(name);
    }
  }
  return { files, specialty: specialty! };
}

/** FNV-1a, so each specialty's stream differs under the same seed. */
function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
