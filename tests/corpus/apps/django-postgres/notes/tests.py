from django.test import TestCase

from .models import Note


class NotesApiTests(TestCase):
    def test_post_then_list(self):
        response = self.client.post('/api/notes', {'text': 'buy milk'})
        self.assertEqual(response.status_code, 201)
        note_id = response.json()['id']
        listing = self.client.get('/api/notes').json()
        self.assertEqual(listing['count'], 1)
        self.assertEqual(listing['notes'], [{'id': note_id, 'text': 'buy milk'}])

    def test_empty_text_is_refused(self):
        response = self.client.post('/api/notes', {'text': '  '})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(Note.objects.count(), 0)

    def test_index_lists_notes(self):
        Note.objects.create(text='call the plumber')
        response = self.client.get('/')
        self.assertContains(response, 'Notes')
        self.assertContains(response, 'call the plumber')
