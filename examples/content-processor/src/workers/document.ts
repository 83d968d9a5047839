// generate-document (queue documents): lays out a PDF (title, then the paragraphs, flowing onto
// as many A4 pages as needed, each with a footer) with pdfkit, streaming it straight into
// storage; then reads the stored PDF back with pdf-parse and stores its extracted text as a .txt
// beside it. The result gives the real page count (as parsed back) and sizes.
//
// pdfkit's built-in fonts (Helvetica) cover the Windows-1252 character set only; other characters
// are written as "?" and counted in `replacedChars`, rather than silently drawn as garbage.
import PDFDocument from 'pdfkit';
import { PDFParse } from 'pdf-parse';
import { Worker } from 'docket';
import { documentJobArgs } from '../jobs/schemas.js';
import type { WorkerDeps } from './common.js';

export interface DocumentResult {
  pdf: { name: string; bytes: number; pages: number };
  text: { name: string; chars: number };
  replacedChars: number;
}

// Windows-1252 characters outside Latin-1 that the standard fonts can draw.
const CP1252_EXTRA = '€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ';

/** Replaces what the standard fonts cannot draw with "?"; returns the text and how many were replaced. */
export function toWinAnsi(text: string): { text: string; replaced: number } {
  let replaced = 0;
  let out = '';
  for (const ch of text.normalize('NFC')) {
    const code = ch.codePointAt(0)!;
    const ok = ch === '\n' || ch === '\t' || (code >= 0x20 && code <= 0x7e) || (code >= 0xa0 && code <= 0xff) || CP1252_EXTRA.includes(ch);
    if (ok) out += ch;
    else {
      out += '?';
      replaced++;
    }
  }
  return { text: out, replaced };
}

export function createDocumentWorker(deps: WorkerDeps) {
  const { config, storage, logger } = deps;
  return new Worker({
    name: 'generate-document',
    queue: 'documents',
    args: documentJobArgs,
    maxAttempts: 3,
    timeout: config.timeouts.documents,
    partition: { by: (args) => args.tenantId, limit: config.tenantConcurrency },
    perform: async (job, { signal }) => {
      const { title, paragraphs, documentId } = job.args;
      const pdfName = 'document.pdf';
      const textName = 'document.txt';
      let replacedChars = 0;
      const clean = (s: string) => {
        const r = toWinAnsi(s);
        replacedChars += r.replaced;
        return r.text;
      };
      const heading = clean(title);

      // 1. Lay out the PDF, streaming it into storage as pdfkit produces it.
      const doc = new PDFDocument({
        size: 'A4',
        margins: { top: 64, bottom: 64, left: 64, right: 64 },
        autoFirstPage: false, // so the footer listener sees the first page too
        // Metadata strings are stored as UTF-16, so they need no font and keep every character.
        info: { Title: title, Subject: documentId, Author: `tenant ${job.args.tenantId}`, Creator: 'content-processor (docket)' },
      });
      let pageCount = 0;
      doc.on('pageAdded', () => {
        // Footer first, then put the cursor back where the body starts. (Pages are flushed to
        // storage as the next one begins, so nothing waits for the page total.)
        pageCount++;
        const { x, y } = doc;
        const bottom = doc.page.margins.bottom;
        doc.page.margins.bottom = 0; // drawing inside the margin must not add a page
        doc.font('Helvetica').fontSize(9).text(`${heading.slice(0, 80)} · page ${pageCount}`, 0, doc.page.height - 40, { width: doc.page.width, align: 'center' });
        doc.page.margins.bottom = bottom;
        doc.x = x;
        doc.y = y;
        doc.font('Helvetica').fontSize(11);
      });
      const written = storage.forTenant(job.args.tenantId).write(job.id, pdfName, doc, { signal });
      doc.addPage();
      doc.font('Helvetica-Bold').fontSize(20).text(heading, { align: 'left' });
      doc.moveDown(1);
      doc.font('Helvetica').fontSize(11);
      for (const [i, paragraph] of paragraphs.entries()) {
        signal.throwIfAborted();
        doc.text(clean(paragraph), { align: 'justify', paragraphGap: 8, lineGap: 2 });
        if ((i + 1) % 50 === 0) await job.progress(Math.round(((i + 1) / paragraphs.length) * 60), { paragraphs: i + 1 });
      }
      doc.end();
      const pdf = await written;
      await job.progress(70, { stage: 'pdf', bytes: pdf.bytes, pages: pageCount });

      // 2. Extract the text back from the stored file.
      signal.throwIfAborted();
      const parser = new PDFParse({ data: await storage.forTenant(job.args.tenantId).readFile(job.id, pdfName) });
      let extracted: string;
      let pages: number;
      try {
        const parsed = await parser.getText({ pageJoiner: '' });
        extracted = parsed.text;
        pages = parsed.total;
      } finally {
        await parser.destroy();
      }
      await storage.forTenant(job.args.tenantId).write(job.id, textName, extracted, { signal });
      await job.progress(100, { stage: 'text', chars: extracted.length });

      logger.info('document generated', { jobId: job.id, tenantId: job.args.tenantId, pages, bytes: pdf.bytes });
      const result: DocumentResult = {
        pdf: { name: pdfName, bytes: pdf.bytes, pages },
        text: { name: textName, chars: extracted.length },
        replacedChars,
      };
      return result;
    },
  });
}
