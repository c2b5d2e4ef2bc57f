from django.test import TestCase
from django.urls import reverse

from .models import Note


class NoteViewTests(TestCase):
    def test_index_lists_notes(self):
        Note.objects.create(title="First note")
        response = self.client.get(reverse("notes:index"))
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "First note")

    def test_post_creates_a_note(self):
        response = self.client.post(reverse("notes:index"), {"title": "Buy milk", "body": ""})
        self.assertRedirects(response, reverse("notes:index"))
        self.assertEqual(Note.objects.get().title, "Buy milk")
