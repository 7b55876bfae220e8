"""The Python-FAQ benchmark builder, on a small page of Sphinx HTML."""

from __future__ import annotations

from ctxembed.benchmarks.pyfaq import build_pyfaq

PAGE = """<html><body>
<section id="programming-faq"><h1>Programming FAQ</h1><p>How do I share globals? Why is it slow?</p>
<section id="how-do-i-share-globals"><h3><a>How do I share global variables across modules?</a><a class="headerlink">¶</a></h3>
<p>The canonical way to share information across modules is a special config module that every module imports.</p>
<div class="highlight"><pre>import config</pre></div>
</section>
<section id="short"><h3>Is this too short?</h3><p>Yes it is.</p></section>
</section></body></html>"""

GUIDE = """<section id="sorting"><h1>Sorting HOW TO</h1>
<section id="basics"><h2>Sorting Basics</h2><p>A simple ascending sort is very easy: just call the sorted() function on any list.</p></section>
</section>"""


def test_questions_find_their_answers_and_guides_are_distractors(tmp_path):
    (tmp_path / "faq").mkdir()
    (tmp_path / "howto").mkdir()
    (tmp_path / "faq" / "programming.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "howto" / "sorting.html").write_text(GUIDE, encoding="utf-8")
    dataset = build_pyfaq(tmp_path, min_words=8)
    docs = {d.id: d for d in dataset.corpus}
    assert set(docs) == {"programming#how-do-i-share-globals", "sorting#basics"}  # no table of contents, no stub
    answer = docs["programming#how-do-i-share-globals"]
    assert answer.title == "" and "config module" in answer.text and "import config" not in answer.text
    assert docs["sorting#basics"].title == "Sorting Basics"
    assert list(dataset.queries.values()) == ["How do I share global variables across modules?"]
    (qid,) = dataset.queries
    split = next(name for name, rels in dataset.qrels.items() if qid in rels)
    assert dataset.qrels[split][qid] == {"programming#how-do-i-share-globals": 1}


LIBRARY = """<section id="os"><h1>os — Operating system interfaces</h1><p>{intro}</p>
<section id="process-parameters"><h2>3.1. Process Parameters</h2><p>{params}</p><div><pre>os.getpid()</pre></div>
<section id="examples"><h3>Examples</h3><p>{params}</p></section></section>
<section id="file-descriptors"><h2>File Descriptor Operations</h2><p>{files}</p></section>
</section>"""


def test_whole_pages_answer_their_section_headings(tmp_path):
    from ctxembed.benchmarks.pydocs import build_pydocs

    (tmp_path / "library").mkdir()
    page = LIBRARY.format(intro="intro " * 250, params="the pid of the process " * 10, files="open close " * 20)
    (tmp_path / "library" / "os.html").write_text(page, encoding="utf-8")
    dataset = build_pydocs(tmp_path, min_words=100, min_section_words=20)
    (doc,) = dataset.corpus
    assert doc.id == "library/os" and doc.title == "os — Operating system interfaces"
    assert "Process Parameters" not in doc.text and "os.getpid" not in doc.text  # no heading, no code
    assert sorted(dataset.queries.values()) == ["File Descriptor Operations", "Process Parameters"]  # not "Examples"
    for qid in dataset.queries:
        split = "dev" if qid in dataset.qrels["dev"] else "test"
        assert dataset.qrels[split][qid] == {"library/os": 1}
        assert qid in dataset.qrels[f"{split}-tail"]  # both sections start after word 200
